// Package audit has the event sinks an Authenticator records its audit
// events through (auth.Config.Events): Async, which writes them to a store
// (bunstore, memstore: any auth.EventWriter) in batches from a goroutine of
// its own and retries through outages; Multi, which fans out to several
// sinks; and Nop, which discards them. The default, auth.SlogSink, logs
// each event.
package audit
