"""Messages that leave the system: rendering (Swedish and English) and SMTP delivery."""
