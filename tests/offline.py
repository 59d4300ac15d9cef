"""A prelude for ``python -c`` scripts that must run offline: sockets, installers and os.system refused.

The script appends to ``network`` (refused connections) and ``commands`` (every subprocess it
started) and prints them as JSON for the test to check.
"""

NO_NETWORK = """
import json, os, socket, subprocess
network, commands = [], []
def refuse(name):
    def call(*args, **kwargs):
        network.append(name)
        raise OSError(f"{name} is forbidden in this test")
    return call
socket.socket.connect = refuse("connect")
socket.getaddrinfo = refuse("getaddrinfo")
socket.create_connection = refuse("create_connection")
original = subprocess.Popen.__init__
def watched(self, args, *rest, **kwargs):
    command = " ".join(map(str, args)) if isinstance(args, (list, tuple)) else str(args)
    commands.append(command)
    if any(word in command.split() for word in ("pip", "uv", "install", "curl", "wget", "git")):
        raise OSError(f"{command!r} is forbidden in this test")
    return original(self, args, *rest, **kwargs)
subprocess.Popen.__init__ = watched
os.system = refuse("os.system")
"""
