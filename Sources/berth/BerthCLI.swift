import ArgumentParser
import BerthClient
import Foundation

@main
struct BerthCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Berth's own command line (early: the docker CLI works against berthd too).",
        subcommands: [Version.self, PS.self, Images.self])

    struct Common: ParsableArguments {
        @Option(name: [.customShort("H"), .long], help: "Daemon address")
        var host = ProcessInfo.processInfo.environment["BERTH_HOST"] ?? "unix:///run/berth/berth.sock"

        func client() throws -> BerthClient {
            guard let a = DaemonAddress(host) else { throw ValidationError("invalid host \(host)") }
            return BerthClient(address: a)
        }
    }

    struct Version: AsyncParsableCommand {
        @OptionGroup var common: Common
        func run() async throws {
            let v = try await common.client().version()
            print("Server: \(v.Platform.Name) \(v.Version) (API \(v.ApiVersion), minimum \(v.MinAPIVersion))")
        }
    }

    struct PS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ps")
        @OptionGroup var common: Common
        @Flag(name: .shortAndLong) var all = false
        func run() async throws {
            for c in try await common.client().containers(all: all) {
                print("\(c.Id.prefix(12))  \(c.Image)  \(c.Status)  \(c.Names.first?.dropFirst() ?? "")")
            }
        }
    }

    struct Images: AsyncParsableCommand {
        @OptionGroup var common: Common
        func run() async throws {
            for i in try await common.client().images() {
                print("\(i.Id.dropFirst(7).prefix(12))  \((i.RepoTags.first ?? "<none>"))  \(i.Size)")
            }
        }
    }
}
