"""The virtual file system: inodes, attribute/dir caches, the file cache and
handles. Pure Python over the `Remote` protocol: never imports grpc or
pyfuse3, and reports every failure as OSError(errno)."""
