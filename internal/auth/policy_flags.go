package auth

// flagPolicy covers FlagService, the OFREP routes and the render bundle.
// Flags belong to a project, so a key bound to project/shop manages shop's
// flags and segments and no other project's; evaluation is also scoped by
// environment, so an evaluator key bound to environment/prod evaluates in
// prod only.
var flagPolicy = map[string]Rule{
	"/flagops.v1.FlagService/PutFlag":        {FlagsWrite, atObject},
	"/flagops.v1.FlagService/GetFlag":        {FlagsRead, atObject},
	"/flagops.v1.FlagService/ListFlags":      {FlagsRead, atObject},
	"/flagops.v1.FlagService/DeleteFlag":     {FlagsWrite, atObject},
	"/flagops.v1.FlagService/PutSegment":     {FlagsWrite, atObject},
	"/flagops.v1.FlagService/GetSegment":     {FlagsRead, atObject},
	"/flagops.v1.FlagService/ListSegments":   {FlagsRead, atObject},
	"/flagops.v1.FlagService/DeleteSegment":  {FlagsWrite, atObject},
	"/flagops.v1.FlagService/CreateSchedule": {FlagsWrite, atObject},
	"/flagops.v1.FlagService/ListSchedules":  {FlagsRead, atObject},
	"/flagops.v1.FlagService/CancelSchedule": {FlagsWrite, atObject},
	// Evaluate names its environment (and target), so an environment-bound
	// evaluator key may call it there; GetSnapshot spans every environment
	// of the project.
	"/flagops.v1.FlagService/Evaluate":    {FlagsEvaluate, atObject},
	"/flagops.v1.FlagService/GetSnapshot": {FlagsEvaluate, atObject},
	// An evaluation with a target returns the deployment's resolved facts
	// (values and sources) only to a caller that may read them, as
	// ResolveFacts would; the service asks with an auth.Request naming the
	// deployment. An evaluator key gets the result without the facts.
	"/flagops.v1.FlagService/Evaluate#facts": {FactsRead, atDeployment},

	// OFREP evaluates in the environment the key is bound to: the request
	// names no environment, the key does. Static development keys
	// (--ofrep-key) are checked by the OFREP handler itself.
	"POST /ofrep/v1/evaluate/flags":          {FlagsEvaluate, keyEnvironment},
	"POST /ofrep/v1/evaluate/flags/{key...}": {FlagsEvaluate, keyEnvironment},
	"GET /ofrep/v1/events":                   {FlagsEvaluate, keyEnvironment},

	// The render bundle returns a deployment's resolved facts, flags and
	// versions. The route is checked twice: before the body is read (the
	// key must hold facts.read somewhere) and, by the handler, on the
	// decoded request's deployment. Secret values need secrets.read on the
	// deployment on top.
	"POST /v1/render/bundle":         {FactsRead, renderDeployment},
	"POST /v1/render/bundle#secrets": {SecretsRead, renderDeployment},
}
