"""OpenTelemetry for sagas: one trace per saga, W3C context in every message.

Sagas outlive processes, so their spans cannot simply be opened and closed around code:
the ids of the saga span, each attempt span and each PRODUCER span are chosen when the
work is decided (and written into message headers), and the spans are exported later, by
whichever process records the outcome, with those ids and their real start and end times.
"""
