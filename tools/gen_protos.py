"""Regenerate deferflow/formats/proto/*_pb2.py from the .proto files.

Usage: python tools/gen_protos.py   (needs grpcio-tools for protoc)

The generated modules are committed. protoc stamps them with a runtime-version
check that refuses older protobuf runtimes; we strip it, since the code it emits
(builder + serialized descriptor) loads on any protobuf >= 4.21.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROTO_DIR = ROOT / "deferflow" / "formats" / "proto"


def main():
    from grpc_tools import protoc
    import grpc_tools

    protos = sorted(str(p.relative_to(ROOT)) for p in PROTO_DIR.glob("*.proto"))
    include = str(pathlib.Path(grpc_tools.__file__).parent / "_proto")  # google/protobuf/*.proto
    args = ["protoc", f"-I{ROOT}", f"-I{include}", f"--python_out={ROOT}", *protos]
    if protoc.main(args) != 0:
        sys.exit("protoc failed")
    for proto in protos:
        path = ROOT / proto.replace(".proto", "_pb2.py")
        text = path.read_text()
        text = text.replace("from google.protobuf import runtime_version as _runtime_version\n", "")
        text = re.sub(r"_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:.*\n)*?\)\n", "", text)
        text = re.sub(r"# Protobuf Python Version: .*\n", "", text)
        text = text.replace("# NO CHECKED-IN PROTOBUF GENCODE\n", "")
        assert "_runtime_version" not in text, path
        path.write_text(text)
        print("wrote", path.relative_to(ROOT))
    init = PROTO_DIR / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated protobuf modules (see tools/gen_protos.py)."""\n')


if __name__ == "__main__":
    main()
