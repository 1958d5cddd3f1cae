// auditwatch: one binary for every service; --target picks which run here.
#include "common/app.h"
#include "services/modules.h"

int main(int argc, char** argv) { return aw::RunApp(argc, argv, aw::AllModules()); }
