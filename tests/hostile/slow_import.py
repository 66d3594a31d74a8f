"""Heavy work at import time: charged to the first run, so it ends in `timeout`."""

import time

time.sleep(3600)


def unlearn(net, retain, forget, val):
    return net
