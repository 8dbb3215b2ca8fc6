import Foundation
@testable import Magma
@testable import MagmaPrimary
@testable import MagmaEmbedded
@testable import MagmaSocket
import MagmaDRM
@testable import MagmaVirtio
import MagmaProtocol
import MagmaTestSupport
import Testing

/// The parameterized behaviour tests are only as good as their backends: each is what it says,
/// and a test's server goes away with it.
@Suite(.hangGuard) struct TestBackendTests {
    @Test func eachBackendIsWhatItSays() throws {
        let devices = TestDevices()
        #expect(try devices.open(.embedded).createConnection().primaryTransport is InProcessConnectionTransport)
        #expect(try devices.open(.socket).createConnection().primaryTransport is SocketConnectionTransport)
        #expect(try devices.open(.virtio).createConnection().backend is VirtioConnection)
        let withRings = try #require(try devices.open(.virtio).createConnection().backend as? VirtioConnection)
        #expect(withRings.device.fenceRingCount == VirtioWaitRings.ringCount)
        #expect(try withRings.device.parameter(.contextInit) == 1)
        let oneTimeline = try #require(try devices.open(.virtioOneTimeline).createConnection().backend as? VirtioConnection)
        #expect(oneTimeline.device.fenceRingCount == 1)
        #expect(try oneTimeline.device.parameter(.contextInit) == 0)
    }

    @Test(.enabled(if: DRMTestDevice.info != nil, "no DRM device here: the DRM backend joins the object tests in the QEMU guest"))
    func theDRMBackendIsAKernelConnection() throws {
        #expect(try DRMTestDevice.open().createConnection().backend is DRMConnection)
    }

    /// Every suite whose tests take a `TestBackend` says what they do on the DRM backend (a
    /// `.drmBackend(...)` trait), and CI's guest step (`.ci/run`'s `behaviour_suites`) runs it
    /// there, so a new behaviour suite is neither left out of the guest nor silent about DRM.
    @Test func everyBehaviourSuiteDeclaresItsDRMCasesAndRunsInTheGuest() throws {
        let root = URL(filePath: #filePath).deletingLastPathComponent()
        let ci = try String(contentsOf: root.appending(path: "../../.ci/run"), encoding: .utf8)
        let listLine = try #require(ci.split(separator: "\n").first { $0.hasPrefix("behaviour_suites='") })
        let listed = Set(listLine.dropFirst("behaviour_suites='".count).dropLast().split(separator: "|").map(String.init))
        var found: Set<String> = []
        let files = try #require(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
        for file in files where !file.hasSuffix("TestBackendTests.swift") {   // this file names the pattern it looks for
            let text = try String(contentsOf: root.appending(path: file), encoding: .utf8)
            // `virtioCases` is `allCases` and the virtio backend: those suites run on DRM too.
            guard text.contains("arguments: TestBackend.allCases") || text.contains("arguments: TestBackend.virtioCases") else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("@Suite(") {
                let name = try #require(line.split(separator: " ").drop { $0 != "struct" }.dropFirst().first.map(String.init), "\(file): \(line)")
                #expect(line.contains(".drmBackend("), "\(file): suite \(name) does not say what its tests do on the DRM backend")
                found.insert(name)
            }
        }
        #expect(found.count > 20)
        #expect(found == listed, "in the suites but not .ci/run: \(found.subtracting(listed).sorted()); the reverse: \(listed.subtracting(found).sorted())")
    }

    @Test func aSocketDevicesServerStopsWithItsDevices() throws {
        var devices: TestDevices? = TestDevices()
        let connection = try devices!.open(.socket).createConnection()
        try connection.flush()
        devices = nil
        expectStatus(.connectionLost) { try connection.flush() }
    }
}
