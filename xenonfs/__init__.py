"""xenonfs: remote file systems as local directories, and jobs on any batch
scheduler, through the Xenon middleware engine.

Layers, one way: FUSE operations -> ``xenonfs.vfs`` -> ``xenonfs.client``
(async, trio) -> ``xenonfs.engine`` (the xenon-grpc JVM). ``xenonfs.xenon``
is the seed's synchronous API on top of the client.
"""

__version__ = "0.1.0"
