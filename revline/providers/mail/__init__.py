"""Email over SMTP: ``client.MailAdapter`` sends as a named person, ``actions`` registers
``email.send``, and ``sim`` is a real local SMTP server for tests and the sandbox."""
