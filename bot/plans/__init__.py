"""Weekly meal plans on the chat: planning, edits, shopping lists, grocery cart links and our `/r/{id}` redirect."""
