"""The degradation model ``LR = gain * D_s(K_sigma * T_shift(HR)) + offset + noise``.

:mod:`.params` (the validated parameters and blind ranges), :mod:`.simulate` (numpy and torch
twins that agree), :mod:`.lrgrid` (the model on a real capture's pixel grid), :mod:`.fit`
(fitting it to a real pair, with :mod:`.registration` and :mod:`.pairs` for non-integer pixel
ratios), :mod:`.noiselevel` and :mod:`.unpaired` (a model from an LR capture alone).
"""
