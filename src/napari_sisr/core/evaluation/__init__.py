"""Scoring against real captures, in one room: the protocol that scores a model or an SR image
on a real LR/HR pair beside the baselines (nearest, bicubic, bicubic + Richardson-Lucy with the
PSF fitted on the pair; :mod:`.scoring`), and the steering of a degradation-aware model tuned
by that protocol on a pair (:mod:`.tuning`).
"""
