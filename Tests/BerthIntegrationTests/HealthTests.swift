#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Health checks through the docker CLI: starting → unhealthy → healthy in ps, inspect and
/// events; the image's HEALTHCHECK and --no-healthcheck; timeouts; probes after a berthd restart.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct HealthTests {
    @Test func startingUnhealthyHealthy() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let since = String(Timestamp.nowNanos() / 1_000_000_000 - 1)
            // Failures in the first 3 s (the start period) do not count: it shows "starting" meanwhile.
            #expect(try await d.docker("run", "-d", "--name", "hc-file", "--health-cmd", "test -f /tmp/ok", "--health-interval", "300ms",
                                       "--health-retries", "2", "--health-start-period", "3s", "--health-start-interval", "300ms",
                                       "busybox", "sleep", "300").status == 0)
            #expect(try await d.docker("ps", "--format", "{{.Status}}").stdoutText.contains("(health: starting)"))
            #expect(try await eventually { try await d.inspect("hc-file", "{{.State.Health.Status}}") == "unhealthy" })
            #expect(try await d.docker("ps", "--format", "{{.Status}}").stdoutText.contains("(unhealthy)"))
            #expect(try await d.docker("exec", "hc-file", "touch", "/tmp/ok").status == 0)
            #expect(try await eventually { try await d.inspect("hc-file", "{{.State.Health.Status}}") == "healthy" })
            #expect(try await d.docker("ps", "--filter", "health=healthy", "--format", "{{.Names}} {{.Status}}").stdoutText.contains("hc-file Up"))
            #expect(try await d.inspect("hc-file", "{{.State.Health.FailingStreak}}") == "0")
            let log = try await d.inspect("hc-file", "{{len .State.Health.Log}} {{(index .State.Health.Log 0).ExitCode}}")
            #expect(log.hasPrefix("5 ") || log.hasPrefix("4 ") || log.hasPrefix("3 "), "\(log)")
            let events = try await d.docker("events", "--since", since, "--until", String(Timestamp.nowNanos() / 1_000_000_000 + 1),
                                            "--filter", "container=hc-file", "--format", "{{.Action}}").stdoutText
            #expect(events.contains("health_status: unhealthy\n") && events.contains("health_status: healthy\n"), "\(events)")
            // Each probe is an exec in the events, as dockerd reports it.
            #expect(events.contains("exec_create: /bin/sh -c test -f /tmp/ok\nexec_start: /bin/sh -c test -f /tmp/ok\nexec_die\n"), "\(events)")
            // berthd killed and back: the probes go on (new entries in the log).
            let before = try await d.inspect("hc-file", "{{(index .State.Health.Log 4).End}}")
            d.kill9()
            try await d.start()
            #expect(try await eventually { try await d.inspect("hc-file", "{{(index .State.Health.Log 4).End}}") != before })
        }
    }

    @Test func imageHealthcheckNoneAndTimeout() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            // An image whose config carries a HEALTHCHECK (made by commit with a Healthcheck override).
            #expect(try await d.docker("create", "--name", "hc-base", "busybox", "true").status == 0)
            let commit = try await d.client.http.request(.POST, "/commit?container=hc-base&repo=hc-image&tag=1",
                body: Array(#"{"Cmd":["sleep","300"],"Healthcheck":{"Test":["CMD-SHELL","exit 0"],"Interval":200000000}}"#.utf8),
                headers: [("Content-Type", "application/json")])
            #expect(commit.status == 201, "\(commit.text)")
            #expect(try await d.docker("run", "-d", "--name", "hc-img", "hc-image:1").status == 0)
            #expect(try await eventually { try await d.inspect("hc-img", "{{.State.Health.Status}}") == "healthy" })
            #expect(try await d.docker("run", "-d", "--name", "hc-none", "--no-healthcheck", "hc-image:1").status == 0)
            #expect(try await d.inspect("hc-none", "{{.State.Health}}") == "<nil>")
            // A probe that outlives its timeout counts as a failure with dockerd's words.
            #expect(try await d.docker("run", "-d", "--name", "hc-slow", "--health-cmd", "sleep 5", "--health-timeout", "200ms",
                                       "--health-interval", "200ms", "--health-retries", "1", "busybox", "sleep", "300").status == 0)
            #expect(try await eventually { try await d.inspect("hc-slow", "{{.State.Health.Status}}") == "unhealthy" })
            let entry = try await d.inspect("hc-slow", "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}")
            #expect(entry == "-1 Health check exceeded timeout (200ms)", "\(entry)")
            let bad = try await d.docker("run", "-d", "--health-cmd", "true", "--health-interval", "10us", "busybox", "true")
            #expect(bad.status != 0)
        }
    }
}
