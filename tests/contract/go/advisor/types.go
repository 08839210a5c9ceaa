// Package advisor declares what aws-slurm-burst-advisor's ASBB client decodes from asbb's
// /api/v1/asba endpoints: the same field names, Go types and json tags as the client's
// structs (internal/budget/asbb_client.go), so decoding a real asbb answer into them shows
// whether the advisor can read it.
package advisor

import "time"

// BudgetStatus is the answer to POST /api/v1/asba/budget-status.
type BudgetStatus struct {
	Account            string    `json:"account"`
	BudgetLimit        float64   `json:"budget_limit"`
	BudgetUsed         float64   `json:"budget_used"`
	BudgetHeld         float64   `json:"budget_held"`
	BudgetAvailable    float64   `json:"budget_available"`
	BurnRate           float64   `json:"burn_rate"`
	BurnRateVariance   float64   `json:"burn_rate_variance"`
	HealthScore        int       `json:"health_score"`
	RiskLevel          string    `json:"risk_level"`
	GrantDaysRemaining int       `json:"grant_days_remaining"`
	Decision           string    `json:"decision"`
	CanAffordAWS       bool      `json:"can_afford_aws"`
	LastUpdated        time.Time `json:"last_updated"`
}

// AffordabilityCheck is the answer to POST /api/v1/asba/affordability-check.
type AffordabilityCheck struct {
	Affordable          bool                `json:"affordable"`
	RecommendedDecision string              `json:"recommended_decision"`
	BudgetImpact        BudgetImpact        `json:"budget_impact"`
	RiskAssessment      RiskAssessment      `json:"risk_assessment"`
	AlternativeOptions  []AlternativeOption `json:"alternative_options"`
	ConfidenceLevel     float64             `json:"confidence_level"`
}

// BudgetImpact is what one job's cost does to the budget.
type BudgetImpact struct {
	CostAsPercentOfBudget    float64 `json:"cost_as_percent_of_budget"`
	CostAsPercentOfRemaining float64 `json:"cost_as_percent_of_remaining"`
	OpportunityCost          float64 `json:"opportunity_cost"`
	BudgetAfterCost          float64 `json:"budget_after_cost"`
}

// RiskAssessment carries the advisor's three risk levels.
type RiskAssessment struct {
	BudgetRisk   string   `json:"budget_risk"`
	DeadlineRisk string   `json:"deadline_risk"`
	OverallRisk  string   `json:"overall_risk"`
	RiskFactors  []string `json:"risk_factors"`
}

// AlternativeOption is one other way to run the job.
type AlternativeOption struct {
	Strategy    string  `json:"strategy"`
	Cost        float64 `json:"cost"`
	Timeline    string  `json:"timeline"`
	Score       float64 `json:"score"`
	Description string  `json:"description"`
}

// GrantTimeline is the answer to POST /api/v1/asba/grant-timeline.
type GrantTimeline struct {
	Account              string             `json:"account"`
	GrantStartDate       time.Time          `json:"grant_start_date"`
	GrantEndDate         time.Time          `json:"grant_end_date"`
	DaysRemaining        int                `json:"days_remaining"`
	CurrentPeriod        string             `json:"current_period"`
	NextAllocation       NextAllocation     `json:"next_allocation"`
	UpcomingDeadlines    []ResearchDeadline `json:"upcoming_deadlines"`
	BudgetGuidance       BudgetGuidance     `json:"budget_guidance"`
	EmergencyBurstAdvice EmergencyAdvice    `json:"emergency_burst_advice"`
}

// NextAllocation is the next money to arrive.
type NextAllocation struct {
	Date   time.Time `json:"date"`
	Amount float64   `json:"amount"`
	Source string    `json:"source"`
}

// ResearchDeadline is one date the advisor weighs.
type ResearchDeadline struct {
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Date      time.Time `json:"date"`
	DaysUntil int       `json:"days_until"`
	Urgency   string    `json:"urgency"`
	Impact    string    `json:"impact"`
}

// BudgetGuidance is how much to spend, and how.
type BudgetGuidance struct {
	RecommendedStrategy     string   `json:"recommended_strategy"`
	MaxRecommendedSpend     float64  `json:"max_recommended_spend"`
	ConservationAdvice      string   `json:"conservation_advice"`
	OptimizationSuggestions []string `json:"optimization_suggestions"`
}

// EmergencyAdvice is what to do when a deadline needs more than the budget has.
type EmergencyAdvice struct {
	EmergencyFundsAvailable bool    `json:"emergency_funds_available"`
	EmergencyThreshold      float64 `json:"emergency_threshold"`
	EmergencyProcedure      string  `json:"emergency_procedure"`
	ContactInfo             string  `json:"contact_info"`
}
