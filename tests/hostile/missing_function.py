"""A submission without `unlearn` (nor `unlearning`): `missing_function`."""


def train(net, retain, forget, val):
    return net
