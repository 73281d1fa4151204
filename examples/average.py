"""Ordinary code with a quality problem (an empty list divides by zero)."""


def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)
