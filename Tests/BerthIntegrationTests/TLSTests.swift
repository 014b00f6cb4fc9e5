#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Remote access: `berthd tls init`, then the docker CLI and the Swift client over mutual TLS;
/// clients without a certificate fail the handshake; plain TCP refuses DNS-named Hosts.
@Suite(.enabled(if: Gate.dockerCLI, Gate.dockerCLIReason)) struct TLSTests {
    /// The docker CLI against a TLS listener, with `DOCKER_CERT_PATH` = `certPath`.
    func docker(_ port: Int, _ certPath: String, _ args: [String], input: String? = nil) async throws -> Subprocess.Result {
        var env = ProcessInfo.processInfo.environment
        env["DOCKER_HOST"] = "tcp://127.0.0.1:\(port)"
        env["DOCKER_TLS_VERIFY"] = "1"
        env["DOCKER_CERT_PATH"] = certPath
        env["DOCKER_CONFIG"] = certPath + "/../docker-config"
        env["DOCKER_CLI_HINTS"] = "false"
        return try await Subprocess.run(["docker"] + args, env: env.map { "\($0.key)=\($0.value)" }, input: input.map { Array($0.utf8) })
    }

    func text(_ r: Subprocess.Result) -> String { "status \(r.status)\n" + r.stdoutText + r.stderrText }

    @Test func dockerCLIOverMutualTLS() async throws {
        let certs = "/tmp/berth-tls-" + String(Identifier.random64().prefix(10))
        defer { FS.removeAll(certs) }
        let initOut = try await Subprocess.run([TestDaemon.binary, "tls", "init", "--hostname", "berth-it", "--ip", "127.0.0.1", "--dir", certs])
        #expect(initOut.status == 0, "\(text(initOut))")
        var st = stat()
        #expect(stat(certs + "/client/key.pem", &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(certs + "/server-key.pem", &st) == 0 && st.st_mode & 0o777 == 0o600)
        let port = freeLoopbackPort()
        let client = certs + "/client"
        try await withRegistry { reg in
            try await withDaemon(extraArgs: ["-H", "tcp://127.0.0.1:\(port)", "--tlsverify", "--tlscacert", certs + "/ca.pem",
                                             "--tlscert", certs + "/server-cert.pem", "--tlskey", certs + "/server-key.pem"]) { d in
                let dk = { (args: [String], input: String?) in try await self.docker(port, client, args, input: input) }
                let archive = d.root + "/busybox.tar"
                try FS.writeAtomically(archive, Data(BusyboxImage.archive))
                #expect(try await dk(["load", "-i", archive], nil).status == 0)
                let run = try await dk(["run", "--rm", "busybox", "echo", "over-tls"], nil)
                #expect(run.stdoutText == "over-tls\n", "\(text(run))")
                // stdin through the hijacked TLS connection, ended by the client's half-close.
                let piped = try await dk(["run", "--rm", "-i", "busybox", "cat"], "piped\n")
                #expect(piped.stdoutText == "piped\n", "\(text(piped))")
                #expect(try await dk(["run", "-d", "--name", "tls-c", "busybox", "sleep", "300"], nil).status == 0)
                let env = "DOCKER_HOST=tcp://127.0.0.1:\(port) DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=\(client)"
                let it = try await Subprocess.run(["script", "-qec", "env \(env) docker run -it --rm busybox sh -c 'tty; exit 3'", "/dev/null"])
                #expect(it.status == 3 && it.stdoutText.contains("/dev/pts/"), "\(text(it))")
                let execIt = try await Subprocess.run(["script", "-qec", "env \(env) docker exec -it tls-c tty", "/dev/null"])
                #expect(execIt.stdoutText.contains("/dev/pts/"), "\(text(execIt))")
                #expect(try await dk(["run", "--name", "tls-logs", "busybox", "sh", "-c", "echo one; echo two"], nil).status == 0)
                let logs = try await dk(["logs", "-f", "tls-logs"], nil)
                #expect(logs.stdoutText == "one\ntwo\n", "\(text(logs))")
                try FS.write(d.root + "/in.txt", "copied\n")
                #expect(try await dk(["cp", d.root + "/in.txt", "tls-c:/in.txt"], nil).status == 0)
                #expect(try await dk(["cp", "tls-c:/in.txt", d.root + "/out.txt"], nil).status == 0)
                #expect(try String(contentsOfFile: d.root + "/out.txt", encoding: .utf8) == "copied\n")
                let ref = reg.host + "/tls/bb:1"
                #expect(try await dk(["tag", "busybox", ref], nil).status == 0)
                let push = try await dk(["push", ref], nil)
                #expect(push.status == 0, "\(text(push))")
                #expect(try await dk(["rmi", ref], nil).status == 0)
                let pull = try await dk(["pull", ref], nil)
                #expect(pull.status == 0 && pull.stdoutText.contains("Downloaded newer image"), "\(text(pull))")

                // The Swift client over mutual TLS.
                let swift = try BerthClient(address: .tcp(host: "127.0.0.1", port: port), tls: ClientTLS(certPath: client))
                #expect(try await swift.ping() == "OK")
                #expect(try await swift.containers().contains { $0.Names.contains("/tls-c") })

                // No client certificate: refused at the handshake.
                let noCert = certs + "/nocert"
                try FS.mkdirAll(noCert)
                try FS.writeAtomically(noCert + "/ca.pem", try FS.read(certs + "/ca.pem"))
                let refused = try await docker(port, noCert, ["ps"])
                #expect(refused.status != 0 && refused.stderrText.contains("certificate required"), "\(text(refused))")
                // Plain HTTP to the TLS port gets nothing.
                let curl = try await Subprocess.run(["curl", "-s", "-m", "5", "http://127.0.0.1:\(port)/_ping"])
                #expect(curl.status != 0 && curl.stdoutText != "OK")
            }
        }
    }

    @Test func plainTCPGuardsAgainstDNSRebinding() async throws {
        let port = freeLoopbackPort()
        try await withDaemon(extraArgs: ["-H", "tcp://127.0.0.1:\(port)"]) { d in
            let client = BerthClient(address: .tcp(host: "127.0.0.1", port: port))
            #expect(try await client.ping() == "OK")
            for host in ["attacker.example", "attacker.example:\(port)", "127.0.0.1.attacker.example"] {
                let r = try await client.http.request(.GET, "/_ping", headers: [("Host", host)])
                #expect(r.status == 403, "\(host): \(r.status)")
            }
            for host in ["localhost:\(port)", "127.0.0.1:\(port)", "[::1]:\(port)"] {
                let r = try await client.http.request(.GET, "/_ping", headers: [("Host", host)])
                #expect(r.status == 200, "\(host): \(r.status)")
            }
            // The unix socket answers whatever the Host (the docker CLI sends api.moby.localhost).
            #expect(try await d.docker("version", "--format", "{{.Server.Version}}").status == 0)
        }
    }

    @Test func offLoopbackNeedsTLSVerify() async throws {
        let r = try await Subprocess.run([TestDaemon.binary, "-H", "tcp://0.0.0.0:\(freeLoopbackPort())", "--data-root", "/nonexistent"])
        #expect(r.status != 0 && r.stderrText.contains("--tlsverify"), "\(text(r))")
    }
}
