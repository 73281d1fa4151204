"""Runs first inside every sandboxed process (as ``python -I -B _bootstrap.py``), before
the untrusted program: network namespace, resource limits, an audit hook, then the program.

Standard library only, and nothing from this package: the sandbox must not import it.
argv: program path, address-space bytes, cpu seconds, file-size bytes, process count.
"""

import ctypes
import os
import resource
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_PROCESS_EVENTS = {
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.exec",
    "os.system",
    "os.kill",
    "os.killpg",
    "subprocess.Popen",
    "pty.spawn",
    "ctypes.dlopen",
    "ctypes.dlsym",
    "ctypes.cdata",
    "socket.connect",
    "socket.bind",
    "socket.sendto",
    "socket.sendmsg",
}
_PATH_EVENTS = {
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.link",
    "os.symlink",
    "os.truncate",
    "os.utime",
    "shutil.rmtree",
    "shutil.copyfile",
    "shutil.move",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def isolate_network() -> str:
    """Enter a new, empty network namespace; say how it went (the parent reads this)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for flags in (CLONE_NEWUSER | CLONE_NEWNET, CLONE_NEWNET):
        if libc.unshare(flags) == 0:
            return "isolated"
    return "shared: " + os.strerror(ctypes.get_errno())


def limit(as_bytes: int, cpu_s: int, fsize: int, nproc: int) -> None:
    for kind, value in (
        (resource.RLIMIT_AS, as_bytes),
        (resource.RLIMIT_CPU, cpu_s),
        (resource.RLIMIT_FSIZE, fsize),
        (resource.RLIMIT_NPROC, nproc),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))


def guard(root: str) -> None:
    """Refuse process creation, sockets, native code and writes outside ``root``.

    RLIMIT_NPROC does not bind root and file permissions do not stop root either, so this
    hook is the layer that holds there. It is a guard against accidents and naive code;
    the namespace, limits and the process-group kill are the outer layers.
    """
    root = os.path.join(os.path.realpath(root), "")

    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True  # an already open descriptor
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        full = os.path.normpath(os.path.join(root, os.fspath(path)))  # type: ignore[arg-type]
        return os.path.join(full, "").startswith(root)

    def hook(event: str, args: tuple) -> None:
        if event in _PROCESS_EVENTS or event.startswith("os.exec") or event.startswith("os.spawn"):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open":
            path, mode, flags = args
            writing = (mode and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writing and path is not None and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} is not allowed")
        elif event in _PATH_EVENTS:
            for arg in args[:2]:
                if isinstance(arg, str | bytes | os.PathLike) and not inside(arg):
                    raise PermissionError(f"sandbox: {event} outside the work dir")

    sys.addaudithook(hook)


def main() -> None:
    program, as_bytes, cpu_s, fsize, nproc = sys.argv[1], *map(int, sys.argv[2:6])
    with open(program, encoding="utf-8") as handle:
        source = handle.read()
    network = isolate_network()
    with open("network.txt", "w", encoding="utf-8") as handle:
        handle.write(network)
    limit(as_bytes, cpu_s, fsize, nproc)
    guard(os.getcwd())
    sys.argv = [program]
    sys.path.insert(0, os.getcwd())
    code = compile(source, program, "exec")
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})


if __name__ == "__main__":
    main()
