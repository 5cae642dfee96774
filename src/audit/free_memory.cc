#include "audit/free_memory.h"

#include <malloc.h>

namespace mcpaudit {

void ReleaseFreeMemory() { ::malloc_trim(0); }

}  // namespace mcpaudit
