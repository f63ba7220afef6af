"""Weekly meal plans: the recipe catalogue, the planner that solves a week, its checker and the shopping list."""
