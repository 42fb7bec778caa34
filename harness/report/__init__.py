"""Reports: terminal tables and plots drawn from records and analysis."""
