"""Training and evaluating the food detector (localiser + crop classifier); what it runs is training/inference/."""
