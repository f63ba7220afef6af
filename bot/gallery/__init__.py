"""Learning foods from people: ask about the foods the model can't name, keep the answers, name them next time."""
