"""The vfs's remote side: one module per backend, each implementing the vfs's
`Remote` protocol (`xenonfs.vfs.remote`).

- `engine`: every adaptor, through the Xenon engine (with its helpers
  `s3top` and `webdav_diagnosis`).

A backend never imports pyfuse3; the vfs never imports a backend; `mount`
wires them.
"""
