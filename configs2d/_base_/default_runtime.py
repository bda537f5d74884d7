# mmdet's runtime (hooks, logging, visualiser), with rankdet registered before anything
# is built: a missing rankdet fails here, not as an unknown type later.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['rankdet'], allow_failed_imports=False)
