"""Analytics: usage, burn rates and projections, reports, the advisor's decisions, the dashboard."""
