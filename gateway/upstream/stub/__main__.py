"""``python -m gateway.upstream.stub [--host H] [--port P]``: the central stub on its own."""

from gateway.upstream.cli import stub_main

if __name__ == "__main__":
    stub_main()
