"""Signals the media services send, so ``backups`` can take part without ``tapes`` importing
it (STYLE: ``tapes`` ← ``backups``).

- ``tape_pre_overwrite(tape=…)``: sent by ``tapes.media.assert_may_write_at_bot`` before a
  tape is labelled, erased or written at BOT. A receiver that knows the tape holds kept
  data raises ``tapes.media.ProtectedTape``: invariant 1 checked at the layer that writes,
  whatever ``protected_until`` says. (``send``, not ``send_robust``: the exception must
  reach the caller.)
- ``tape_overwritten(tape=…)``: sent after a new label or an erase destroyed what was on the
  tape; ``backups.retention`` deletes the catalog rows of the expired sets that were there
  (late recycling keeps them until now).
"""

from django.dispatch import Signal

tape_pre_overwrite = Signal()
tape_overwritten = Signal()
