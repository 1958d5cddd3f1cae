#!/usr/bin/python3
"""A client that knows nothing of auditwatch's code: it checks, with only the
public grpc.health.v1 and grpc.reflection.v1alpha contracts, that each given
server reports SERVING and lists and describes its service.

usage: generic_client.py STUB_DIR HOST:PORT=FULL.SERVICE.NAME ...
Prints one line per server; exits 1 when any check fails.
"""
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
from google.protobuf import descriptor_pb2  # noqa: E402
import generic_health_pb2 as health_pb2  # noqa: E402
import generic_health_pb2_grpc as health_pb2_grpc  # noqa: E402
import generic_reflection_pb2 as reflection_pb2  # noqa: E402
import generic_reflection_pb2_grpc as reflection_pb2_grpc  # noqa: E402


def check(address, service):
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=10)
    health = health_pb2_grpc.HealthStub(channel)
    overall = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
    named = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
    serving = health_pb2.HealthCheckResponse.SERVING
    if overall != serving or named != serving:
        return "health %s/%s" % (overall, named)

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=service),
    ]
    responses = list(reflection.ServerReflectionInfo(iter(requests), timeout=5))
    listed = [s.name for s in responses[0].list_services_response.service]
    if service not in listed:
        return "reflection lists %s, not %s" % (listed, service)
    methods = []
    for raw in responses[1].file_descriptor_response.file_descriptor_proto:
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        for svc in fd.service:
            if "%s.%s" % (fd.package, svc.name) == service:
                methods = [m.name for m in svc.method]
    if not methods:
        return "reflection did not describe %s" % service
    return "ok: SERVING, listed, %d methods described" % len(methods)


def main():
    failed = False
    for arg in sys.argv[2:]:
        address, service = arg.split("=", 1)
        try:
            result = check(address, service)
        except Exception as e:  # report every server, then fail
            result = "error: %s" % e
        failed = failed or not result.startswith("ok")
        print("%s %s %s" % (address, service, result))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
