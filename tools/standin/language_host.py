"""The ``python`` language plugin that ``pulumi import`` loads here (tools/pulumi_cli.py).

It is Pulumi's own inline-program language server (``pulumi.automation._server``),
served the way the engine starts a plugin: it prints its port on the first line of
stdout (sdk/go/common/resource/plugin/plugin.go). ``pulumi import`` only asks it which
packages the program needs (none are declared: the engine then loads the ``gcp``
provider the import file's types name, from the plugin cache). Were it asked to run the
program, it would run ``__main__.py`` of the repository.
"""

from __future__ import annotations

import runpy
import sys
from concurrent import futures

import grpc  # type: ignore[import-untyped]
from pulumi.automation._server import LanguageServer
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import language_pb2_grpc

from tools.pulumi_cli import REPO


def _program() -> None:
    runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")


def main() -> None:
    """Serve until the engine stops the plugin."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(_program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine stops its plugins with SIGINT
        server.stop(0)
    sys.exit(0)


if __name__ == "__main__":
    main()
