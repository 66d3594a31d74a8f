"""Heavy work at import time: every run imports the submission, so it ends in `timeout`."""

import time

time.sleep(3600)


def unlearn(net, retain, forget, val):
    return net
