"""The real TensorBoard, served on loopback from a logdir written by deferflow, opened in headless
Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium): the scalar dashboard shows
the logged tags as charts and the graph dashboard shows our name scopes and nodes.

Needs ``bash .ci/install-browser.sh``. Skips where Chromium is missing, except under CI (``CI`` set),
where a missing browser is a failure. Screenshots are kept in the test's tmp dir (and copied to
``$DEFERFLOW_ARTIFACTS`` when set).
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import deferflow as tf

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1400,1000"]

# Text and element names of the whole page, descending into shadow roots (TensorBoard's Polymer parts).
DEEP_TEXT = """
function walk(n, out) {
  if (n.nodeType === 3 && !['STYLE', 'SCRIPT'].includes(n.parentNode && n.parentNode.nodeName)) out.push(n.textContent);
  if (n.shadowRoot) walk(n.shadowRoot, out);
  for (const c of n.childNodes) walk(c, out);
  return out;
}
return walk(document.body, []).join(' ').split(/\\s+/).join(' ');"""
# find(root, NODENAME or '*', []) and text(root), also through shadow roots.
FIND = """
function find(n, name, out) {
  if (n.nodeType === 1 && (name === '*' || n.nodeName === name)) out.push(n);
  if (n.shadowRoot) find(n.shadowRoot, name, out);
  for (const c of n.childNodes) find(c, name, out);
  return out;
}
function text(n) {
  const out = [];
  (function walk(m) {
    if (m.nodeType === 3 && m.parentNode.nodeName !== 'STYLE') out.push(m.textContent);
    if (m.shadowRoot) walk(m.shadowRoot);
    for (const c of m.childNodes) walk(c);
  })(n);
  return out.join(' ').split(/\\s+/).join(' ');
}
"""
DEEP_TAGS = """
function walk(n, out) {
  if (n.nodeType === 1) out[n.nodeName.toUpperCase()] = (out[n.nodeName.toUpperCase()] || 0) + 1;
  if (n.shadowRoot) walk(n.shadowRoot, out);
  for (const c of n.childNodes) walk(c, out);
  return out;
}
return walk(document.body, {});"""


def _have_browser():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(CHROMIUM) and os.path.exists(DRIVER)


if not _have_browser():
    if os.environ.get("CI"):
        pytest.fail("the browser test needs chromium, chromium-driver and selenium: run .ci/install-browser.sh",
                    pytrace=False)
    pytest.skip("chromium/chromium-driver/selenium not installed", allow_module_level=True)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_logdir(logdir):
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    with tf.name_scope("dense"):
        w = tf.Variable(np.eye(3, dtype=np.float32), name="kernel")
        y = tf.matmul(x, w, name="logits")
    with tf.name_scope("metrics"):
        loss = tf.reduce_mean(tf.square(y), name="mse")
        acc = tf.reduce_mean(tf.cast(y > 0.5, tf.float32), name="accuracy")
    tf.summary.scalar("loss", loss)
    tf.summary.scalar("accuracy", acc)
    merged = tf.summary.merge_all()
    with tf.Session() as sess, tf.summary.FileWriter(os.path.join(logdir, "run1"), sess.graph) as writer:
        sess.run(tf.global_variables_initializer())
        for step in range(20):
            writer.add_summary(sess.run(merged, {x: np.full([4, 3], 1.0 - step / 20, np.float32)}), step)


@pytest.fixture(scope="module")
def tensorboard_url(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("tb_logs"))
    tf.reset_default_graph()
    _write_logdir(logdir)
    port = _free_port()
    log = open(os.path.join(logdir, "tensorboard.log"), "wb")
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
                             "--port", str(port), "--reload_interval", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if b"run1" in urllib.request.urlopen(url + "/data/runs", timeout=5).read():
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                log.flush()
                raise RuntimeError("TensorBoard did not start:\n" + open(log.name, errors="replace").read()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _open_until(driver, url, ready, timeout=90):
    """Loads ``url`` and polls the page until ``ready(text, tags)`` holds; returns (text, tags)."""
    driver.get("about:blank")
    driver.get(url)
    deadline, text, tags = time.time() + timeout, "", {}
    while time.time() < deadline:
        text, tags = driver.execute_script(DEEP_TEXT), driver.execute_script(DEEP_TAGS)
        if ready(text, tags):
            return text, tags
        time.sleep(1)
    return text, tags


def _screenshot(driver, path):
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10000
    target = os.environ.get("DEFERFLOW_ARTIFACTS")
    if target:
        os.makedirs(target, exist_ok=True)
        shutil.copy(path, target)


def test_scalar_dashboard_shows_the_logged_tags(tensorboard_url, browser, tmp_path):
    def ready(text, tags):
        return "loss" in text and "accuracy" in text and tags.get("TF-SCALAR-CARD", 0) >= 2 \
            and tags.get("VZ-LINE-CHART2", 0) >= 2
    text, tags = _open_until(browser, tensorboard_url + "/#scalars", ready)
    _screenshot(browser, tmp_path / "scalars.png")
    assert "run1" in text
    assert "loss" in text.split() and "accuracy" in text.split(), text[-2000:]
    assert tags.get("TF-SCALAR-CARD", 0) == 2 and tags.get("VZ-LINE-CHART2", 0) == 2, tags


def test_graph_dashboard_shows_scopes_and_nodes(tensorboard_url, browser, tmp_path):
    def ready(text, tags):
        return all(name in text.split() for name in ("dense", "metrics", "x"))
    text, _ = _open_until(browser, tensorboard_url + "/#graphs", ready)
    words = text.split()
    # the top level shows our name scopes as collapsed groups, and the ungrouped placeholder
    assert "Main Graph" in text and "dense" in words and "metrics" in words and "x" in words, text[-2000:]

    # the node search lists the nodes inside the scopes, as a person typing in the search box sees them
    box = browser.execute_script(FIND + "return find(find(document.body, 'TF-GRAPH-NODE-SEARCH', [])[0], 'INPUT', [])[0];")
    box.send_keys("metrics/")
    deadline, found = time.time() + 30, ""
    while time.time() < deadline and "metrics/accuracy" not in found:
        time.sleep(0.5)
        found = browser.execute_script(FIND + "return text(find(document.body, 'TF-GRAPH-NODE-SEARCH', [])[0]);")
    assert {"metrics/mse", "metrics/accuracy", "metrics/Square", "metrics/Cast"} <= set(found.split()), found

    # choosing a result opens its scope in the graph itself
    item = browser.execute_script(FIND + """
        const s = find(document.body, 'TF-GRAPH-NODE-SEARCH', [])[0];
        return find(s, '*', []).filter(e => e.children.length === 0 && e.textContent.trim() === 'metrics/mse')[0];""")
    item.click()
    deadline = time.time() + 30
    while time.time() < deadline:
        scene = browser.execute_script(FIND + "return text(find(document.body, 'TF-GRAPH-SCENE', [])[0]);")
        if "mse" in scene.split():
            break
        time.sleep(0.5)
    assert "mse" in scene.split() and "accuracy" in scene.split(), scene[-2000:]
    # and the node's card shows its op type and its consumer, the "loss" scalar summary
    info = browser.execute_script(FIND + "return text(find(document.body, 'TF-GRAPH-INFO', [])[0]);")
    assert "metrics/ mse" in info and "Mean" in info and "loss" in info.split(), info[-2000:]
    time.sleep(1)  # let the expand animation finish for the screenshot
    _screenshot(browser, tmp_path / "graph.png")
