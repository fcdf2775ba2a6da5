"""HTTP routes (Powertools event handler) shared by the API functions."""
