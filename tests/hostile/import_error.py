"""A submission that cannot be imported: `import_error`."""

import a_module_that_does_not_exist  # noqa: F401


def unlearn(net, retain, forget, val):
    return net
