// Package services is Pando's framework for long-running services, the
// Marathon of Pando: apps in Marathon's JSON shape (App), kept running at
// their instance count, rolled out version by version, behind Marathon's
// REST API (Handler). It is written only against sdk/, as a third party
// would.
//
// # Scheduling
//
// Core is the logic, pure, with the time as a parameter; Framework is the
// shell that connects it to an sdk driver, the store and HTTP. Each
// instance is a task with id "<app>.<n>", the ports of its
// portDefinitions taken from the offer and given as PORT0.., PORTS,
// PORT_<NAME>, and its health check (one per app) run by the agent; the
// agent reports health changes and kills a task that fails
// maxConsecutiveFailures checks in a row after its grace period, and the
// framework replaces it. A failed or lost instance is replaced after
// backoffSeconds, growing by backoffFactor up to maxLaunchDelaySeconds;
// the delay resets once an instance launched since the failure has stayed
// healthy that long.
// Constraints UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE and MAX_PER count
// the app's instances per attribute value ("hostname" is the agent's);
// among the offers that pass, an instance goes to the host with the fewest
// of its app's. An app with dependencies launches once each dependency has
// all its instances healthy.
//
// # Versions and deployments
//
// Every change makes an immutable version (a timestamp). A version that
// changes only instances is a scaling and restarts nothing; any other
// change, a restart, or a rollback to a different task starts a rolling
// deployment: old instances are killed only while at least
// ceil(minimumHealthCapacity × instances) instances stay healthy, and new
// ones launched only while no more than instances + floor(instances ×
// maximumOverCapacity) run (with minimumHealthCapacity 1 and
// maximumOverCapacity 0, one instance over capacity, else nothing could
// move). Rolling back is deploying an old version: the instances still
// running its task count as new at once, so a deploy that never became
// healthy rolls back without losing capacity. Cancelling a deployment
// (DELETE /v2/deployments/{id}) rolls back; with force=true it leaves the
// app at its new version.
//
// # State
//
// Apps, their versions (the last 50), their instances and the framework id
// are in the store under "frameworks/services/", written before the API
// answers. A restarted framework fails over to its old id, reconciles its
// instances and kills the tasks of apps it no longer has.
package services
