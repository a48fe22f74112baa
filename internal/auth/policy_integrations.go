package auth

// integrationPolicy covers WebhookService and the inbound fact hook route.
// Webhooks and fact hooks are workspace-wide. Creating or deleting one
// decides where change data goes and who may write facts from outside, so
// it is an administrator's act (integrations.admin); reading them and
// redelivering are not.
var integrationPolicy = map[string]Rule{
	"/flagops.v1.WebhookService/CreateWebhook":  {IntegrationsAdmin, inWorkspace},
	"/flagops.v1.WebhookService/ListWebhooks":   {IntegrationsRead, inWorkspace},
	"/flagops.v1.WebhookService/GetWebhook":     {IntegrationsRead, inWorkspace},
	"/flagops.v1.WebhookService/DeleteWebhook":  {IntegrationsAdmin, inWorkspace},
	"/flagops.v1.WebhookService/ListDeliveries": {IntegrationsRead, inWorkspace},
	"/flagops.v1.WebhookService/Redeliver":      {IntegrationsWrite, inWorkspace},
	"/flagops.v1.WebhookService/CreateFactHook": {IntegrationsAdmin, inWorkspace},
	"/flagops.v1.WebhookService/ListFactHooks":  {IntegrationsRead, inWorkspace},
	"/flagops.v1.WebhookService/DeleteFactHook": {IntegrationsAdmin, inWorkspace},

	// The fact hook route needs no API key: its handler checks the hook's
	// own token (fhk_…) against the stored hash in constant time.
	"POST /v1/hooks/facts/{hook}": {Public, nothing},
}
