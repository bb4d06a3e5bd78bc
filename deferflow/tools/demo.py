"""``deferflow demo``: the seed walk-through end to end on real data.

Train a small VGG-style conv net on the bundled handwritten digits with ``tf.train.AdamOptimizer``,
save with a ``Saver(max_to_keep=4, keep_checkpoint_every_n_hours=2)`` every N steps, restore it in a
fresh graph with ``import_meta_graph`` + ``latest_checkpoint``, and fine-tune a new 2-way head on
``stop_gradient(fc7)`` as in the seed's VGG example — checking every step's result on the way.
"""
import math
import os
import sys
import time
import traceback

import numpy as np

from deferflow.tools.cli import CLIError

HELP = "train, save, restore and fine-tune a VGG-style conv net on the bundled digits (the seed, end to end)"
EXAMPLES = """what it does (each phase checks its result and the demo exits 1 if one fails):
  1. builds a VGG-style net (conv/relu/max-pool blocks, fc6, fc7, fc8, softmax) with placeholders and
     tf.Variables, trains it with tf.train.AdamOptimizer on 1,347 digits, reports accuracy on 450 held out
     (at least 95%% required), saving with Saver(max_to_keep=4, keep_checkpoint_every_n_hours=2)
     every N steps (global_step in the names, the .meta graph only the first time);
  2. in a fresh graph: import_meta_graph + restore(latest_checkpoint), tensors by name, same accuracy;
  3. fine-tunes a new 2-output layer on stop_gradient(fc7) for "is the digit at least 5?" and checks
     the restored weights are bit-identical afterwards;
  4. writes TensorBoard summaries (loss, accuracy, weight histograms, input images) and the graph.

examples:
  deferflow demo                          writes into a fresh ./demo_out folder
  deferflow demo --out /tmp/run1 --steps 200 --seed 7"""

MIN_ACCURACY = 0.95
MIN_FINETUNE_ACCURACY = 0.90


class DemoFailed(Exception):
    """A phase ran but its result is wrong (exit status 1)."""


def add_parser(sub, formatter):
    p = sub.add_parser("demo", help=HELP, description=HELP + ".", epilog=EXAMPLES, formatter_class=formatter)
    p.add_argument("--out", metavar="DIR", help="output folder, new or empty (default: a fresh ./demo_out)")
    p.add_argument("--steps", type=int, default=400, help="training steps (default 400; fine-tuning runs half)")
    p.add_argument("--seed", type=int, default=0, help="random seed for the split, batches and weights")
    p.add_argument("--batch-size", type=int, default=64, help="examples per training step (default 64)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they go to stderr)")
    p.add_argument("--traceback", action="store_true", help="show the full traceback if a phase crashes")
    p.set_defaults(run=run)


# --- a small progress bar (live on a terminal, one final line otherwise) ---

class Progress:
    def __init__(self, total, label, enabled=True, stream=None):
        self.total, self.label, self.n = total, label, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.live = enabled and getattr(self.stream, "isatty", lambda: False)()
        self.start = self._last = time.perf_counter()
        self.info = ""

    def update(self, n=1, info=None):
        self.n += n
        if info is not None:
            self.info = info
        now = time.perf_counter()
        if self.live and (now - self._last > 0.1 or self.n >= self.total):
            self._last = now
            self._draw(now)

    def _draw(self, now, end="\r"):
        width = 28
        filled = int(width * self.n / max(self.total, 1))
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.n) / rate if rate else 0.0
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"  {self.label:<9} [{bar}] {self.n}/{self.total}  {elapsed:5.1f}s"
                          f"{f' eta {eta:4.1f}s' if end == chr(13) and self.n < self.total else ''}  "
                          f"{rate:6.0f} it/s  {self.info}{chr(27) + '[K' if self.live else ''}{end}")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self._draw(time.perf_counter(), end="\n")
        return time.perf_counter() - self.start


# --- the model ---

def _conv(tf, name, inputs, size, out_channels, padding="SAME", relu=True):
    """A VGG layer: conv (weights/biases named as in slim's VGG) + optional ReLU; its output is named ``name``."""
    in_channels = inputs.get_shape().as_list()[-1]
    with tf.name_scope(name) as scope:
        stddev = math.sqrt(2.0 / (size * size * in_channels))  # He initialisation keeps ReLU nets trainable
        weights = tf.Variable(tf.truncated_normal([size, size, in_channels, out_channels], stddev=stddev),
                              name="weights")
        biases = tf.Variable(tf.zeros([out_channels]), name="biases")
        pre = tf.nn.bias_add(tf.nn.conv2d(inputs, weights, [1, 1, 1, 1], padding), biases)
        return tf.nn.relu(pre, name=scope) if relu else tf.identity(pre, name=scope)


def build_vgg(tf, learning_rate=3e-3):
    """The conv net; returns a dict of its tensors/ops. Fully connected layers are convolutions, as in VGG."""
    x = tf.placeholder(tf.float32, [None, 8, 8, 1], name="x")
    labels = tf.placeholder(tf.int64, [None], name="labels")
    net = _conv(tf, "conv1/conv1_1", x, 3, 16)
    net = _conv(tf, "conv1/conv1_2", net, 3, 16)
    net = tf.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "VALID", name="pool1")    # 4x4x16
    net = _conv(tf, "conv2/conv2_1", net, 3, 32)
    net = _conv(tf, "conv2/conv2_2", net, 3, 32)
    net = tf.nn.max_pool(net, [1, 2, 2, 1], [1, 2, 2, 1], "VALID", name="pool2")    # 2x2x32
    net = _conv(tf, "fc6", net, 2, 128, padding="VALID")                             # 1x1x128
    fc7 = _conv(tf, "fc7", net, 1, 128)                                              # 'fc7:0', [?,1,1,128]
    fc8 = _conv(tf, "fc8", fc7, 1, 10, relu=False)
    logits = tf.squeeze(fc8, [1, 2], name="logits")
    prob = tf.nn.softmax(logits, name="prob")
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                          name="loss")
    correct = tf.equal(tf.argmax(logits, 1), labels)
    accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
    global_step = tf.train.get_or_create_global_step()
    train_op = tf.train.AdamOptimizer(learning_rate).minimize(loss, global_step=global_step, name="train")
    return dict(x=x, labels=labels, fc7=fc7, prob=prob, loss=loss, accuracy=accuracy, global_step=global_step,
                train_op=train_op)


def _summaries(tf, model):
    """Training summaries (loss, accuracy, weight histograms, a few inputs) and the held-out pair."""
    # summary names must not clash with the ops 'loss'/'accuracy', or TF makes the tags 'loss_1'...
    loss_s = tf.summary.scalar("metrics/loss", model["loss"])
    acc_s = tf.summary.scalar("metrics/accuracy", model["accuracy"])
    hists = [tf.summary.histogram("weights/" + v.op.name.replace("/weights", ""), v)
             for v in tf.trainable_variables() if v.op.name.endswith("weights")]
    images = tf.summary.image("inputs", model["x"], max_outputs=4)
    return tf.summary.merge([loss_s, acc_s] + hists + [images]), tf.summary.merge([loss_s, acc_s])


def _batches(rng, n, batch_size):
    """Endless shuffled mini-batch index arrays, reshuffled every epoch."""
    while True:
        order = rng.permutation(n)
        for i in range(0, n - batch_size + 1, batch_size):
            yield order[i:i + batch_size]


def _save_steps(steps):
    """Four save points, the last at the final step: max_to_keep=4 keeps all, with the one .meta."""
    every = max(1, math.ceil(steps / 4))
    return sorted({min(every * k, steps) for k in range(1, 5)})


def _files(out):
    rows = []
    for root, _, names in os.walk(out):
        for name in sorted(names):
            path = os.path.join(root, name)
            rows.append((os.path.relpath(path, out), os.path.getsize(path)))
    return sorted(rows)


# --- phases ---

def run_demo(out, steps=400, seed=0, batch_size=64, progress=True, tf=None, say=print):
    """Runs the demo into folder ``out``; returns a dict of results. Raises DemoFailed on a wrong result.

    ``tf`` is the TF1 API module to use (deferflow by default; tests may pass TensorFlow's compat.v1).
    """
    if tf is None:
        import deferflow as tf
    from deferflow.datasets import DIGITS_SOURCE, load_digits, train_test_split

    t_start = time.perf_counter()
    images, labels = load_digits()
    (x_train, y_train), (x_test, y_test) = train_test_split(images[..., None], labels.astype(np.int64), 0.25, seed)
    rng = np.random.RandomState(seed)
    results = {"out": out}
    say(f"deferflow demo: a VGG-style conv net on {len(images):,} handwritten 8x8 digits, 10 classes")
    say(f"  data: {DIGITS_SOURCE}")
    say(f"  split: {len(x_train):,} to train, {len(x_test):,} held out; output folder: {out}")

    # 1. build, train with Adam, save every N steps
    prefix = os.path.join(out, "model")
    save_steps = _save_steps(steps)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        model = build_vgg(tf)
        train_summary, eval_summary = _summaries(tf, model)
        n_params = sum(int(np.prod(v.get_shape().as_list())) for v in tf.trainable_variables())
        # relative paths in the checkpoint file keep the output folder movable
        saver = tf.train.Saver(max_to_keep=4, keep_checkpoint_every_n_hours=2, save_relative_paths=True)
        say("\n[1/3] train: conv1 (2 x conv3x3, 16) > pool > conv2 (2 x conv3x3, 32) > pool > fc6 (128) > "
            "fc7 (128) > fc8 (10) > softmax")
        say(f"  {n_params:,} weights in {len(tf.trainable_variables())} tf.Variables; AdamOptimizer, "
            f"batch {batch_size}, {steps} steps; Saver(max_to_keep=4, keep_checkpoint_every_n_hours=2) "
            f"at steps {', '.join(map(str, save_steps))}")
        saved = []
        with tf.Session(graph=graph) as sess:
            logs = os.path.join(out, "logs")
            train_writer = tf.summary.FileWriter(os.path.join(logs, "train"), sess.graph)
            eval_writer = tf.summary.FileWriter(os.path.join(logs, "heldout"))
            sess.run(tf.global_variables_initializer())
            bar = Progress(steps, "train", progress)
            batches = _batches(rng, len(x_train), batch_size)
            test_feed = {model["x"]: x_test, model["labels"]: y_test}
            for step in range(1, steps + 1):  # the value global_step has after each update
                idx = next(batches)
                feed = {model["x"]: x_train[idx], model["labels"]: y_train[idx]}
                _, loss, acc = sess.run([model["train_op"], model["loss"], model["accuracy"]], feed)
                if step % 10 == 0 or step == steps:
                    train_writer.add_summary(sess.run(train_summary, feed), step)
                if step in save_steps:
                    # the graph does not change during training: write the .meta only the first time
                    path = saver.save(sess, prefix, global_step=step, write_meta_graph=not saved)
                    saved.append(path)
                    eval_writer.add_summary(sess.run(eval_summary, test_feed), step)
                bar.update(1, f"loss {loss:.4f}  batch acc {acc:.2f}")
            results["train_seconds"] = bar.close()
            if int(sess.run(model["global_step"])) != steps:
                raise DemoFailed(f"global_step is {sess.run(model['global_step'])} after {steps} training steps")
            train_writer.close()
            eval_writer.close()
            accuracy = float(sess.run(model["accuracy"], test_feed))
            results["accuracy"] = accuracy
            final_probs = sess.run(model["prob"], test_feed)
        results["checkpoints"] = saved
        say(f"  held-out accuracy: {accuracy:.4f} ({round(accuracy * len(x_test))}/{len(x_test)})")
        if accuracy < MIN_ACCURACY:
            raise DemoFailed(f"held-out accuracy {accuracy:.4f} is below {MIN_ACCURACY}; try more --steps")
        meta = saved[0] + ".meta"
        say(f"  saved {len(saved)} checkpoints; the graph once, in {os.path.basename(meta)}. Files written:")
        results["files"] = _files(out)
        for name, size in results["files"]:
            if not name.startswith("logs"):
                say(f"    {name:<36} {size:>9,} bytes")

    # 2. fresh graph: import_meta_graph + restore(latest_checkpoint), tensors by name
    say("\n[2/3] restore in a fresh graph: import_meta_graph + restore(latest_checkpoint)")
    t0 = time.perf_counter()
    with tf.Graph().as_default() as graph2:
        sess = tf.Session(graph=graph2)
        new_saver = tf.train.import_meta_graph(meta)
        latest = tf.train.latest_checkpoint(out)
        if latest is None or os.path.basename(latest) != os.path.basename(saved[-1]):
            raise DemoFailed(f"latest_checkpoint({out!r}) is {latest!r}, expected {saved[-1]!r}")
        new_saver.restore(sess, latest)
        x = graph2.get_tensor_by_name("x:0")
        y = graph2.get_tensor_by_name("labels:0")
        acc_t = graph2.get_tensor_by_name("accuracy:0")
        prob_t = graph2.get_tensor_by_name("prob:0")
        feed = {x: x_test, y: y_test}  # a new feed_dict for the restored placeholders
        restored_acc, restored_probs = sess.run([acc_t, prob_t], feed)
        restored_acc = float(restored_acc)
        results["restored_accuracy"] = restored_acc
        say(f"  {os.path.basename(meta)} + {os.path.basename(latest)}: held-out accuracy {restored_acc:.4f}, "
            f"predictions {'identical' if np.array_equal(restored_probs, final_probs) else 'DIFFERENT'} "
            f"({time.perf_counter() - t0:.1f}s)")
        if restored_acc != accuracy or not np.array_equal(restored_probs, final_probs):
            raise DemoFailed(f"the restored model gives accuracy {restored_acc:.4f}, the trained one {accuracy:.4f}")

        # 3. fine-tune a new head on stop_gradient(fc7), as in the seed's VGG example
        say('\n[3/3] fine-tune: a new 2-output layer on stop_gradient(fc7) for "is the digit at least 5?"')
        restored_vars = tf.global_variables()
        before = {v.op.name: sess.run(v) for v in restored_vars}
        fc7 = graph2.get_tensor_by_name("fc7:0")
        fc7 = tf.stop_gradient(fc7)  # an identity whose gradient is zero: fc7 and below stay as restored
        fc7_shape = fc7.get_shape().as_list()
        num_outputs = 2
        with tf.name_scope("finetune"):
            weights = tf.Variable(tf.truncated_normal([fc7_shape[3], num_outputs], stddev=0.05), name="weights")
            biases = tf.Variable(tf.constant(0.05, shape=[num_outputs]), name="biases")
            output = tf.matmul(tf.reshape(fc7, [-1, fc7_shape[3]]), weights) + biases
            pred = tf.nn.softmax(output, name="pred")
            big = tf.placeholder(tf.int64, [None], name="is_at_least_5")
            loss2 = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=big, logits=output))
            acc2 = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(pred, 1), big), tf.float32), name="accuracy")
            # no var_list: every trainable variable is offered, and stop_gradient leaves only the new head
            finetune_op = tf.train.AdamOptimizer(1e-2, name="FinetuneAdam").minimize(loss2)
            ft_summary = tf.summary.merge([tf.summary.scalar("metrics/loss", loss2),
                                           tf.summary.scalar("metrics/accuracy", acc2)])
        new_vars = [v for v in tf.global_variables() if v.op.name not in before]
        sess.run(tf.variables_initializer(new_vars))
        trained = sorted({v.op.name for v in tf.trainable_variables()} - set(before))
        ft_steps = max(1, steps // 2)
        writer = tf.summary.FileWriter(os.path.join(out, "logs", "finetune"))
        bar = Progress(ft_steps, "fine-tune", progress)
        y_train_big, y_test_big = (y_train >= 5).astype(np.int64), (y_test >= 5).astype(np.int64)
        batches = _batches(rng, len(x_train), batch_size)
        for step in range(1, ft_steps + 1):
            idx = next(batches)
            _, l2 = sess.run([finetune_op, loss2], {x: x_train[idx], big: y_train_big[idx]})
            if step % 10 == 0 or step == ft_steps:
                writer.add_summary(sess.run(ft_summary, {x: x_train[idx], big: y_train_big[idx]}), step)
            bar.update(1, f"loss {l2:.4f}")
        results["finetune_seconds"] = bar.close()
        writer.close()
        ft_acc = float(sess.run(acc2, {x: x_test, big: y_test_big}))
        results["finetune_accuracy"] = ft_acc
        changed = [name for name, value in before.items()
                   if not np.array_equal(sess.run(graph2.get_tensor_by_name(name + ":0")), value)]
        reader = tf.train.load_checkpoint(latest)
        unlike_file = [name for name, value in before.items()
                       if reader.has_tensor(name) and not np.array_equal(reader.get_tensor(name), value)]
        results["restored_unchanged"] = not changed and not unlike_file
        say(f"  trained only {', '.join(trained)}; held-out accuracy {ft_acc:.4f} "
            f"({round(ft_acc * len(x_test))}/{len(x_test)})")
        say(f"  {len(before)} restored variables bit-identical to {os.path.basename(latest)} after fine-tuning: "
            f"{'yes' if results['restored_unchanged'] else 'NO'}")
        sess.close()
        if changed or unlike_file:
            raise DemoFailed("fine-tuning changed restored weights: " + ", ".join((changed + unlike_file)[:5]))
        if ft_acc < MIN_FINETUNE_ACCURACY:
            raise DemoFailed(f"fine-tuned accuracy {ft_acc:.4f} is below {MIN_FINETUNE_ACCURACY}")

    results["seconds"] = time.perf_counter() - t_start
    logs = [(name, size) for name, size in _files(out) if name.startswith("logs" + os.sep)]
    runs = sorted({name.split(os.sep)[1] for name, _ in logs})
    say(f"\nTensorBoard summaries (loss, accuracy, weight histograms, input images, the graph): "
        f"{os.path.join(out, 'logs')}/{{{','.join(runs)}}}, {sum(s for _, s in logs):,} bytes")
    say(f"done in {results['seconds']:.1f}s. Look inside what was written:")
    say(f"  deferflow inspect {out}")
    say(f"  deferflow graph {meta}")
    say(f"  tensorboard --logdir {os.path.join(out, 'logs')}")
    return results


def _fresh_out_dir():
    name, k = "demo_out", 1
    while os.path.exists(name):
        k += 1
        name = f"demo_out_{k}"
    return name


def run(args):
    if args.steps < 4:
        raise CLIError(f"--steps must be at least 4 (it saves 4 checkpoints), got {args.steps}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be positive, got {args.batch_size}")
    out = args.out or _fresh_out_dir()
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise CLIError(f"{out}: exists and is not an empty folder; pass a new or empty one with --out")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise CLIError(f"{out}: cannot create the output folder ({e.strerror})") from None
    from deferflow.tools.blas import default_to_one_thread
    default_to_one_thread()
    try:
        run_demo(out, args.steps, args.seed, args.batch_size, progress=not args.no_progress)
    except DemoFailed as e:
        raise CLIError(f"FAILED: {e}", code=1) from None
    except Exception as e:  # a deferflow bug: one clear line, the traceback on request
        if args.traceback:
            traceback.print_exc()
        where = traceback.extract_tb(e.__traceback__)[-1]
        raise CLIError(f"FAILED with {type(e).__name__}: {e} (at {os.path.basename(where.filename)}:"
                       f"{where.lineno}; rerun with --traceback for details)", code=1) from None
    return 0
