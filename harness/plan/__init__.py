"""Plans: user input (options, TOML matrices, scheduler presets) turned into typed plans,
every problem refused in one line before any cluster starts."""
