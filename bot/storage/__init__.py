"""What the bot keeps: plain records (`records`), one small protocol per subject (`protocols`), and the
SQLAlchemy adapter that implements them (`sql`)."""
