package auth

// versionPolicy covers VersionService, ReleaseService, PromotionService and
// the resolve route. Every request names a project (and often an environment
// or target), so a key bound to project/shop manages shop's versions,
// releases and promotions and no other project's; an agent bound to a target
// reports what is deployed there.
var versionPolicy = map[string]Rule{
	"/flagops.v1.VersionService/SetVersion":       {VersionsWrite, atObject},
	"/flagops.v1.VersionService/GetVersions":      {VersionsRead, atObject},
	"/flagops.v1.VersionService/ReportVersion":    {VersionsReport, atObject},
	"/flagops.v1.VersionService/Rollback":         {VersionsWrite, atObject},
	"/flagops.v1.VersionService/Drift":            {VersionsRead, atObject},
	"/flagops.v1.VersionService/VersionHistory":   {VersionsRead, atObject},
	"/flagops.v1.VersionService/SetVersionPolicy": {VersionsWrite, atObject},

	"/flagops.v1.ReleaseService/CreateRelease": {VersionsWrite, atObject},
	"/flagops.v1.ReleaseService/GetRelease":    {VersionsRead, atObject},
	"/flagops.v1.ReleaseService/ListReleases":  {VersionsRead, atObject},

	// A promotion writes its "to" environment. Approving or rejecting one
	// names only its id, so it needs the workspace.
	"/flagops.v1.PromotionService/Promote":               {VersionsWrite, atObject},
	"/flagops.v1.PromotionService/ListPromotions":        {VersionsRead, atObject},
	"/flagops.v1.PromotionService/ApprovePromotion":      {PromotionsApprove, inWorkspace},
	"/flagops.v1.PromotionService/RejectPromotion":       {PromotionsApprove, inWorkspace},
	"/flagops.v1.PromotionService/PutPromotionPolicy":    {VersionsWrite, atObject},
	"/flagops.v1.PromotionService/ListPromotionPolicies": {VersionsRead, atObject},
	"/flagops.v1.PromotionService/DeletePromotionPolicy": {VersionsWrite, atObject},
	"/flagops.v1.PromotionService/SetHold":               {VersionsWrite, atObject},
	"/flagops.v1.PromotionService/ListHolds":             {VersionsRead, inWorkspace},

	"GET /v1/resolve/{project}/{environment}": {VersionsRead, resolvePath},
}
