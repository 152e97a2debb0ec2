"""Change data capture: a job's tables kept in step with the source's log.

The first run loads a snapshot consistent with the slot's start; later runs decode the
log (`pgoutput`), fold each batch of whole transactions into the final action per key
(`changes`), and apply them in one destination transaction (`apply`) before the slot's
position moves (`run`).
"""
