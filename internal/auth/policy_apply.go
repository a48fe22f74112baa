package auth

// applyPolicy covers ApplyService. An apply carries objects of every kind,
// each needing its own permission at its own resource, so the table entry
// only asks for a valid key; the handler authorizes each object with the
// entry of the RPC that writes it alone (PutEnvironment, SetFacts,
// PutFlag, CreateRelease…) and each pruned object with the entry of its
// delete RPC, before anything is written.
var applyPolicy = map[string]Rule{
	"/flagops.v1.ApplyService/Apply": {EachObject, nothing},
}
