// Package events holds the activation envelope that triggers see (SPEC §2.15, §8.1), the
// validation of trigger event kinds (§3.3 rule 5), trigger filters (§3.5, §8.5), trigger prompt
// templates (§8.6), the loop guard constant (§8.7) and the in-process event bus of a node.
//
// The package knows nothing about HTTP or SQL: the API layer validates request bodies with
// [ValidateEventKind], [NormalizeFilter] and [ParsePrompt], the trigger engine subscribes to the
// [Bus], selects triggers with [RouteMatches] and [Filter.Match], applies the loop guard with
// [Envelope.LoopGuarded], and the dispatcher renders the stored envelope with [Template.Render]
// when a run starts.
//
// Error values returned by the validation functions carry the exact `<detail>` texts of the
// specification; callers prefix them with the field path where the specification requires it
// (for example "trigger.event is invalid: " + err.Error()).
package events
