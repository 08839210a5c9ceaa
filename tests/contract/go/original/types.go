// Package original declares what the original aws-slurm-burst-budget tool's Go types
// (pkg/api and pkg/version) decode from each of its routes, with the same field names, Go
// types and json tags, so decoding a real asbb answer into them shows whether a client
// built on those types can read it.
package original

import "time"

// ---------------------------------------------------------------- budget check and reconcile

// BudgetCheckResponse is the answer to POST /api/v1/budget/check.
type BudgetCheckResponse struct {
	Available       bool    `json:"available"`
	EstimatedCost   float64 `json:"estimated_cost"`
	HoldAmount      float64 `json:"hold_amount"`
	TransactionID   string  `json:"transaction_id,omitempty"`
	Message         string  `json:"message,omitempty"`
	BudgetRemaining float64 `json:"budget_remaining"`
	Recommendation  string  `json:"recommendation,omitempty"`
	Details         struct {
		AccountBalance    float64 `json:"account_balance"`
		CurrentHold       float64 `json:"current_hold"`
		PartitionUsed     float64 `json:"partition_used,omitempty"`
		PartitionLimit    float64 `json:"partition_limit,omitempty"`
		HoldPercentage    float64 `json:"hold_percentage"`
		AdvisorConfidence float64 `json:"advisor_confidence,omitempty"`
	} `json:"details,omitempty"`
}

// JobReconcileResponse is the answer to POST /api/v1/budget/reconcile.
type JobReconcileResponse struct {
	Success       bool    `json:"success"`
	OriginalHold  float64 `json:"original_hold"`
	ActualCharge  float64 `json:"actual_charge"`
	RefundAmount  float64 `json:"refund_amount"`
	TransactionID string  `json:"transaction_id"`
	Message       string  `json:"message,omitempty"`
}

// ---------------------------------------------------------------- accounts and transactions

// BudgetAccount is one element of GET /api/v1/accounts and the answer to
// GET /api/v1/accounts/{account}.
type BudgetAccount struct {
	ID                   int64      `json:"id"`
	SlurmAccount         string     `json:"slurm_account"`
	Name                 string     `json:"name"`
	Description          string     `json:"description"`
	BudgetLimit          float64    `json:"budget_limit"`
	BudgetUsed           float64    `json:"budget_used"`
	BudgetHeld           float64    `json:"budget_held"`
	HasIncrementalBudget bool       `json:"has_incremental_budget"`
	NextAllocationDate   *time.Time `json:"next_allocation_date,omitempty"`
	TotalAllocated       float64    `json:"total_allocated"`
	StartDate            time.Time  `json:"start_date"`
	EndDate              time.Time  `json:"end_date"`
	Status               string     `json:"status"`
	CreatedAt            time.Time  `json:"created_at"`
	UpdatedAt            time.Time  `json:"updated_at"`
}

// BudgetTransaction is one element of GET /api/v1/transactions.
type BudgetTransaction struct {
	ID                  int64      `json:"id"`
	AccountID           int64      `json:"account_id"`
	JobID               *string    `json:"job_id,omitempty"`
	TransactionID       string     `json:"transaction_id"`
	Type                string     `json:"type"`
	Amount              float64    `json:"amount"`
	Description         string     `json:"description"`
	Metadata            string     `json:"metadata,omitempty"`
	Status              string     `json:"status"`
	ParentTransactionID *string    `json:"parent_transaction_id,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	CompletedAt         *time.Time `json:"completed_at,omitempty"`
}

// ---------------------------------------------------------------- grants and burn rates

// GrantAccount is one element of GET /api/v1/grants and the answer to
// GET /api/v1/grants/{number}.
type GrantAccount struct {
	ID                     int64     `json:"id"`
	GrantNumber            string    `json:"grant_number"`
	FundingAgency          string    `json:"funding_agency"`
	AgencyProgram          string    `json:"agency_program,omitempty"`
	PrincipalInvestigator  string    `json:"principal_investigator"`
	CoInvestigators        []string  `json:"co_investigators,omitempty"`
	Institution            string    `json:"institution"`
	Department             string    `json:"department,omitempty"`
	GrantStartDate         time.Time `json:"grant_start_date"`
	GrantEndDate           time.Time `json:"grant_end_date"`
	TotalAwardAmount       float64   `json:"total_award_amount"`
	DirectCosts            float64   `json:"direct_costs"`
	IndirectCostRate       float64   `json:"indirect_cost_rate"`
	IndirectCosts          float64   `json:"indirect_costs"`
	BudgetPeriodMonths     int       `json:"budget_period_months"`
	CurrentBudgetPeriod    int       `json:"current_budget_period"`
	Status                 string    `json:"status"`
	ComplianceRequirements string    `json:"compliance_requirements,omitempty"`
	FederalAwardID         string    `json:"federal_award_id,omitempty"`
	InternalProjectCode    string    `json:"internal_project_code,omitempty"`
	CostCenter             string    `json:"cost_center,omitempty"`
	CreatedAt              time.Time `json:"created_at"`
	UpdatedAt              time.Time `json:"updated_at"`
}

// BurnRateAnalysisResponse is the answer to an account's or a grant's burn rate.
type BurnRateAnalysisResponse struct {
	Account         string              `json:"account"`
	GrantNumber     string              `json:"grant_number,omitempty"`
	AnalysisPeriod  string              `json:"analysis_period"`
	TimeRange       TimeRange           `json:"time_range"`
	CurrentMetrics  BurnRateMetrics     `json:"current_metrics"`
	HistoricalData  []BurnRateDataPoint `json:"historical_data"`
	Projection      *BurnRateProjection `json:"projection,omitempty"`
	Alerts          []BudgetAlert       `json:"alerts,omitempty"`
	Recommendations []string            `json:"recommendations"`
}

// TimeRange is the span a burn rate covers.
type TimeRange struct {
	StartDate time.Time `json:"start_date"`
	EndDate   time.Time `json:"end_date"`
	Days      int       `json:"days"`
}

// BurnRateMetrics are a burn rate's figures now.
type BurnRateMetrics struct {
	DailySpendRate         float64 `json:"daily_spend_rate"`
	DailyExpectedRate      float64 `json:"daily_expected_rate"`
	VariancePercentage     float64 `json:"variance_percentage"`
	Rolling7DayAverage     float64 `json:"rolling_7day_average"`
	Rolling30DayAverage    float64 `json:"rolling_30day_average"`
	CumulativeSpend        float64 `json:"cumulative_spend"`
	CumulativeExpected     float64 `json:"cumulative_expected"`
	CumulativeVariancePct  float64 `json:"cumulative_variance_pct"`
	BudgetHealthScore      float64 `json:"budget_health_score"`
	BudgetRemainingAmount  float64 `json:"budget_remaining_amount"`
	BudgetRemainingPercent float64 `json:"budget_remaining_percent"`
	TimeRemainingDays      int     `json:"time_remaining_days"`
	BurnRateStatus         string  `json:"burn_rate_status"`
	BudgetHealthStatus     string  `json:"budget_health_status"`
}

// BurnRateDataPoint is one day of a burn rate.
type BurnRateDataPoint struct {
	Date               time.Time `json:"date"`
	DailySpend         float64   `json:"daily_spend"`
	DailyExpected      float64   `json:"daily_expected"`
	VariancePercentage float64   `json:"variance_percentage"`
	CumulativeSpend    float64   `json:"cumulative_spend"`
	CumulativeExpected float64   `json:"cumulative_expected"`
	BudgetHealthScore  float64   `json:"budget_health_score"`
}

// BurnRateProjection is where a burn rate leads.
type BurnRateProjection struct {
	ProjectedEndDate       time.Time  `json:"projected_end_date"`
	ProjectedDepletionDate *time.Time `json:"projected_depletion_date,omitempty"`
	ProjectedFinalSpend    float64    `json:"projected_final_spend"`
	ProjectedOverrun       float64    `json:"projected_overrun"`
	ProjectedUnderrun      float64    `json:"projected_underrun"`
	ConfidenceLevel        float64    `json:"confidence_level"`
	ProjectionMethod       string     `json:"projection_method"`
	RiskLevel              string     `json:"risk_level"`
}

// BudgetAlert is one alert, as burn rates and budget status list them.
type BudgetAlert struct {
	ID             int64      `json:"id"`
	AccountID      int64      `json:"account_id"`
	GrantID        *int64     `json:"grant_id,omitempty"`
	AlertType      string     `json:"alert_type"`
	Severity       string     `json:"severity"`
	ThresholdValue float64    `json:"threshold_value"`
	ActualValue    float64    `json:"actual_value"`
	Message        string     `json:"message"`
	Details        string     `json:"details,omitempty"`
	TriggeredAt    time.Time  `json:"triggered_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	Status         string     `json:"status"`
}

// ---------------------------------------------------------------- system

// HealthCheckResponse is the answer to GET /health.
type HealthCheckResponse struct {
	Status    string            `json:"status"`
	Version   string            `json:"version"`
	Timestamp time.Time         `json:"timestamp"`
	Services  map[string]string `json:"services"`
	Uptime    string            `json:"uptime"`
}

// BuildInfo is the answer to GET /version (pkg/version).
type BuildInfo struct {
	Version   string `json:"version"`
	GitCommit string `json:"git_commit"`
	BuildTime string `json:"build_time"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// ---------------------------------------------------------------- aws-slurm-burst (ASBX)

// ASBXCostReconciliationResponse is the answer to POST /api/v1/asbx/reconcile.
type ASBXCostReconciliationResponse struct {
	Success                   bool     `json:"success"`
	ReconciliationID          string   `json:"reconciliation_id"`
	OriginalTransaction       string   `json:"original_transaction"`
	EstimatedCost             float64  `json:"estimated_cost"`
	ActualCost                float64  `json:"actual_cost"`
	CostVariance              float64  `json:"cost_variance"`
	CostVariancePct           float64  `json:"cost_variance_pct"`
	RefundAmount              float64  `json:"refund_amount"`
	AdditionalCharge          float64  `json:"additional_charge"`
	EstimationAccuracy        float64  `json:"estimation_accuracy"`
	ModelUpdateApplied        bool     `json:"model_update_applied"`
	ComplianceReportGenerated bool     `json:"compliance_report_generated,omitempty"`
	ReportPath                string   `json:"report_path,omitempty"`
	Message                   string   `json:"message"`
	Warnings                  []string `json:"warnings,omitempty"`
	Recommendations           []string `json:"recommendations,omitempty"`
}

// ASBXEpilogResponse is the answer to POST /api/v1/asbx/epilog.
type ASBXEpilogResponse struct {
	Success                 bool     `json:"success"`
	JobID                   string   `json:"job_id"`
	ReconciliationTriggered bool     `json:"reconciliation_triggered"`
	ReconciliationID        string   `json:"reconciliation_id,omitempty"`
	Message                 string   `json:"message"`
	NextSteps               []string `json:"next_steps,omitempty"`
	DataImportStatus        string   `json:"data_import_status"`
	ErrorDetails            string   `json:"error_details,omitempty"`
}

// ASBXIntegrationStatus is the answer to GET /api/v1/asbx/status.
type ASBXIntegrationStatus struct {
	ASBXVersion               string    `json:"asbx_version"`
	IntegrationEnabled        bool      `json:"integration_enabled"`
	LastDataImport            time.Time `json:"last_data_import"`
	TotalJobsReconciled       int64     `json:"total_jobs_reconciled"`
	SuccessfulReconciliations int64     `json:"successful_reconciliations"`
	FailedReconciliations     int64     `json:"failed_reconciliations"`
	AverageReconciliationTime string    `json:"average_reconciliation_time"`
	CostModelAccuracy         float64   `json:"cost_model_accuracy"`
	LastHealthCheck           time.Time `json:"last_health_check"`
	HealthStatus              string    `json:"health_status"`
}

// ---------------------------------------------------------------- advisor decisions (ASBA)

// BudgetStatusResponse is the answer to POST /api/v1/asba/budget-status.
type BudgetStatusResponse struct {
	Account                string        `json:"account"`
	GrantNumber            string        `json:"grant_number,omitempty"`
	BudgetLimit            float64       `json:"budget_limit"`
	BudgetUsed             float64       `json:"budget_used"`
	BudgetHeld             float64       `json:"budget_held"`
	BudgetAvailable        float64       `json:"budget_available"`
	BudgetUtilization      float64       `json:"budget_utilization"`
	GrantStartDate         *time.Time    `json:"grant_start_date,omitempty"`
	GrantEndDate           *time.Time    `json:"grant_end_date,omitempty"`
	DaysRemaining          int           `json:"days_remaining"`
	DailyBurnRate          float64       `json:"daily_burn_rate"`
	ExpectedDailyRate      float64       `json:"expected_daily_rate"`
	BurnRateVariance       float64       `json:"burn_rate_variance"`
	BudgetHealthScore      float64       `json:"budget_health_score"`
	HealthStatus           string        `json:"health_status"`
	ProjectedDepletionDate *time.Time    `json:"projected_depletion_date,omitempty"`
	RiskLevel              string        `json:"risk_level"`
	CanAffordAWSBurst      bool          `json:"can_afford_aws_burst"`
	RecommendedDecision    string        `json:"recommended_decision"`
	DecisionReasoning      []string      `json:"decision_reasoning"`
	ActiveAlerts           []BudgetAlert `json:"active_alerts,omitempty"`
	Warnings               []string      `json:"warnings,omitempty"`
	LastUpdated            time.Time     `json:"last_updated"`
}

// AffordabilityCheckResponse is the answer to POST /api/v1/asba/affordability-check.
type AffordabilityCheckResponse struct {
	Affordable           bool                   `json:"affordable"`
	RecommendedDecision  string                 `json:"recommended_decision"`
	ConfidenceLevel      float64                `json:"confidence_level"`
	EstimatedAWSCost     float64                `json:"estimated_aws_cost"`
	BudgetImpact         float64                `json:"budget_impact"`
	CostOpportunityRatio float64                `json:"cost_opportunity_ratio"`
	TimeToDeadline       int64                  `json:"time_to_deadline"`
	LocalCompletionTime  *time.Time             `json:"local_completion_time,omitempty"`
	AWSCompletionTime    *time.Time             `json:"aws_completion_time,omitempty"`
	BudgetRisk           string                 `json:"budget_risk"`
	DeadlineRisk         string                 `json:"deadline_risk"`
	OverallRisk          string                 `json:"overall_risk"`
	DecisionFactors      map[string]interface{} `json:"decision_factors"`
	Reasoning            []string               `json:"reasoning"`
	Recommendations      []string               `json:"recommendations"`
	AlternativeOptions   []ResourceOption       `json:"alternative_options,omitempty"`
	Message              string                 `json:"message"`
}

// ResourceOption is one other way to run a job.
type ResourceOption struct {
	Option              string  `json:"option"`
	EstimatedCost       float64 `json:"estimated_cost"`
	EstimatedTime       int64   `json:"estimated_time"`
	Risk                string  `json:"risk"`
	Reasoning           string  `json:"reasoning"`
	RecommendationScore float64 `json:"recommendation_score"`
}

// GrantTimelineResponse is the answer to POST /api/v1/asba/grant-timeline.
type GrantTimelineResponse struct {
	GrantNumber            string                `json:"grant_number,omitempty"`
	Account                string                `json:"account"`
	GrantStartDate         time.Time             `json:"grant_start_date"`
	GrantEndDate           time.Time             `json:"grant_end_date"`
	CurrentPeriod          int                   `json:"current_period"`
	TotalPeriods           int                   `json:"total_periods"`
	PeriodEndDate          time.Time             `json:"period_end_date"`
	DaysUntilPeriodEnd     int                   `json:"days_until_period_end"`
	DaysUntilGrantEnd      int                   `json:"days_until_grant_end"`
	AllocationSchedule     []AllocationEvent     `json:"allocation_schedule"`
	NextAllocation         *AllocationEvent      `json:"next_allocation,omitempty"`
	UpcomingDeadlines      []CriticalDeadline    `json:"upcoming_deadlines"`
	BudgetTimeline         []BudgetTimelinePoint `json:"budget_timeline"`
	CurrentUrgency         string                `json:"current_urgency"`
	BurstingRecommendation string                `json:"bursting_recommendation"`
	OptimizationAdvice     []string              `json:"optimization_advice"`
	EmergencyOptions       []EmergencyOption     `json:"emergency_options,omitempty"`
	LastUpdated            time.Time             `json:"last_updated"`
}

// AllocationEvent is one instalment to come.
type AllocationEvent struct {
	Date        time.Time `json:"date"`
	Amount      float64   `json:"amount"`
	Description string    `json:"description"`
	Type        string    `json:"type"`
	DaysFromNow int       `json:"days_from_now"`
}

// CriticalDeadline is one date that matters to the budget.
type CriticalDeadline struct {
	Type            string    `json:"type"`
	Description     string    `json:"description"`
	Date            time.Time `json:"date"`
	DaysFromNow     int       `json:"days_from_now"`
	Severity        string    `json:"severity"`
	BudgetImpact    string    `json:"budget_impact"`
	Recommendations []string  `json:"recommendations"`
}

// BudgetTimelinePoint is the projected budget on one day.
type BudgetTimelinePoint struct {
	Date               time.Time `json:"date"`
	CumulativeSpend    float64   `json:"cumulative_spend"`
	CumulativeExpected float64   `json:"cumulative_expected"`
	RemainingBudget    float64   `json:"remaining_budget"`
	BurnRateStatus     string    `json:"burn_rate_status"`
	HealthScore        float64   `json:"health_score"`
}

// EmergencyOption is one way to find money for a critical deadline.
type EmergencyOption struct {
	Option        string   `json:"option"`
	Description   string   `json:"description"`
	EstimatedCost float64  `json:"estimated_cost,omitempty"`
	Timeline      string   `json:"timeline"`
	Requirements  []string `json:"requirements"`
	RiskLevel     string   `json:"risk_level"`
}

// BurstDecisionResponse is the answer to POST /api/v1/asba/burst-decision.
type BurstDecisionResponse struct {
	RecommendedAction   string           `json:"recommended_action"`
	Confidence          float64          `json:"confidence"`
	UrgencyLevel        string           `json:"urgency_level"`
	BudgetImpact        float64          `json:"budget_impact"`
	AffordabilityScore  float64          `json:"affordability_score"`
	CostEfficiency      float64          `json:"cost_efficiency"`
	TimelinePressure    float64          `json:"timeline_pressure"`
	DeadlineRisk        string           `json:"deadline_risk"`
	GrantHealthImpact   string           `json:"grant_health_impact"`
	BudgetPreservation  float64          `json:"budget_preservation"`
	DecisionFactors     []DecisionFactor `json:"decision_factors"`
	RiskAssessment      RiskAssessment   `json:"risk_assessment"`
	Alternatives        []ResourceOption `json:"alternatives"`
	ImmediateActions    []string         `json:"immediate_actions"`
	LongtermSuggestions []string         `json:"longterm_suggestions"`
	Message             string           `json:"message"`
}

// DecisionFactor is one input of a burst decision.
type DecisionFactor struct {
	Factor      string  `json:"factor"`
	Weight      float64 `json:"weight"`
	Value       float64 `json:"value"`
	Impact      string  `json:"impact"`
	Description string  `json:"description"`
}

// RiskAssessment is a burst decision's risks.
type RiskAssessment struct {
	OverallRisk          string   `json:"overall_risk"`
	BudgetRisk           string   `json:"budget_risk"`
	DeadlineRisk         string   `json:"deadline_risk"`
	GrantRisk            string   `json:"grant_risk"`
	RiskFactors          []string `json:"risk_factors"`
	MitigationStrategies []string `json:"mitigation_strategies"`
	ConfidenceLevel      float64  `json:"confidence_level"`
}
