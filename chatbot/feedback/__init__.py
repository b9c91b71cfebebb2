"""Answer feedback for editors: roll-ups per cited page or document, the analytics dashboard's figures,
resolving feedback and turning thumbs-down comments into editorial work."""
