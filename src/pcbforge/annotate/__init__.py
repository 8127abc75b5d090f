"""YOLO labels and component crops.

Used by the ``crop`` stage (:mod:`pcbforge.annotate.crops` cuts component views out of
labelled boards and web photos) and by the ``catalog`` stage, which writes its boards'
labels with :mod:`pcbforge.annotate.yolo`, the one YOLO codec (parse, format, convert).
"""
