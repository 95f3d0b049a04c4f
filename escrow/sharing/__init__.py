"""Delta Sharing: recipient profiles and the open protocol over released agreements."""
