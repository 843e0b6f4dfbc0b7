"""Words and phrases the rules look for, folded (lowercase, no accents), as speech recognisers write them."""

from __future__ import annotations

from controller.conversation.numbers import NUMBER_WORDS
from controller.conversation.understanding import Intent

# (phrase, intent, weight): nouns that name the errand weigh more than verbs shared by several errands.
INTENT_PHRASES: tuple[tuple[str, Intent, int], ...] = (
    *((p, Intent.ENTREGA, 2) for p in (
        "entrega", "entregas", "entregar", "entregando", "entregador", "entregadora", "encomenda", "encomendas",
        "pacote", "pacotes", "delivery", "ifood", "i food", "rappi", "uber eats", "mercado livre", "correios",
        "correio", "sedex", "loggi", "jadlog", "total express", "amazon", "shopee", "magalu", "americanas",
        "aliexpress", "shein", "pizza", "lanche", "marmita", "pedido", "motoboy", "moto boy", "carta",
        "envelope", "documento", "gas", "galao", "coleta", "devolucao", "mercadoria", "compras", "farmacia",
        "remedio", "ze delivery", "vim deixar", "deixar um", "deixar uma", "chegou uma", "chegou um",
    )),
    *((p, Intent.SERVICO, 2) for p in (
        "servico", "servicos", "prestacao", "prestador", "prestadora", "tecnico", "tecnica", "manutencao",
        "conserto", "consertar", "reparo", "instalacao", "instalar", "instalador", "eletricista", "encanador",
        "pintor", "pintura", "pedreiro", "marceneiro", "vidraceiro", "chaveiro", "jardineiro", "jardinagem",
        "diarista", "faxina", "faxineira", "faxineiro", "limpeza", "passadeira", "cuidadora", "cuidador",
        "enfermeira", "enfermeiro", "baba", "personal", "dedetizacao", "dedetizadora", "internet", "net",
        "ar condicionado", "geladeira", "maquina de lavar", "vazamento", "obra", "reforma", "orcamento",
        "vistoria", "leitura", "medidor", "montador", "montagem", "antena", "piscineiro", "mudanca", "frete",
        "vim trabalhar", "vim consertar", "vim instalar", "vim arrumar", "vim fazer", "manicure", "cabeleireira",
        "professor particular", "aula", "empregada", "domestica", "encanamento", "eletrica", "desentupidora",
    )),
    *((p, Intent.VISITA, 1) for p in (
        "visita", "visitar", "visitando", "visitante", "vim ver", "ver o", "ver a", "vim falar com", "falar com o",
        "falar com a", "amigo", "amiga", "parente", "filho", "filha", "mae", "pai", "irmao", "irma", "tio", "tia",
        "avo", "primo", "prima", "namorado", "namorada", "sobrinho", "sobrinha", "sogra", "sogro",
        "cunhado", "cunhada", "convidado", "convidada", "festa", "aniversario", "churrasco", "almoco", "jantar",
        "encontrar", "me esperando", "ta me esperando", "combinado", "marcado", "vim buscar o", "vim buscar a",
        "buscar a", "buscar o", "estudar", "reuniao", "conhecido", "colega",
    )),
)

HUMAN_PHRASES = (
    "porteiro", "porteira", "zelador", "zeladora", "sindico", "sindica", "atendente", "humano", "pessoa de verdade",
    "uma pessoa", "falar com alguem", "funcionario", "recepcao", "recepcionista", "administracao", "gerente",
    "seguranca", "robo", "maquina nao", "operador", "administrador", "administradora",
)

YES_PHRASES = (
    "sim", "isso", "isso mesmo", "exato", "exatamente", "correto", "certo", "certinho", "pode", "pode ser",
    "pode chamar", "pode ligar", "e isso", "e sim", "aham", "uhum", "ahan", "positivo", "confirmo", "confirmado",
    "isso ai", "ta certo", "esta certo", "beleza", "ok", "okay", "perfeito", "com certeza", "claro", "afirmativo",
    "e ela", "e ele", "ela mesma", "ele mesmo", "essa mesma", "esse mesmo", "essa", "esse", "manda", "ta bom",
    "esta bom", "yes", "sim senhor", "sim senhora", "e esse", "e essa", "isso isso", "certissimo",
)
NO_PHRASES = (
    "nao", "negativo", "errado", "errada", "incorreto", "nada disso", "nenhum", "nenhuma", "ta errado",
    "esta errado", "nope",
)
DONT_KNOW_PHRASES = ("nao sei", "nao lembro", "nao conheco", "nao faco ideia", "esqueci", "sei la")
ANY_PHRASES = (
    "tanto faz", "qualquer um", "qualquer uma", "qualquer", "os dois", "as duas", "ambos", "ambas", "pra familia",
    "a familia", "quem estiver", "qualquer pessoa", "quem tiver",
)
REPEAT_UTTERANCES = frozenset(
    {"como", "o que", "oi", "hein", "que", "ahn", "repete", "repita", "pode repetir", "como e", "ahn oi", "o que e"}
)
REPEAT_PHRASES = ("repete", "repetir", "nao entendi", "nao ouvi", "fala de novo", "diz de novo", "nao escutei")
ORDINALS = {"primeira": 0, "primeiro": 0, "segunda": 1, "segundo": 1, "terceira": 2, "terceiro": 2,
            "ultima": -1, "ultimo": -1}

# Phrases after which a visitor says their own name, longest first.
VISITOR_CUES = tuple(
    sorted(
        (
            "meu nome e", "o meu nome e", "meu nome", "me chamo", "pode me chamar de", "aqui e o", "aqui e a",
            "aqui e", "aqui quem fala e", "quem fala e o", "quem fala e a", "quem fala e", "quem fala", "eu sou o",
            "eu sou a", "eu sou", "sou o", "sou a", "sou", "aqui o", "aqui a", "aqui fala o", "aqui fala a",
            "o nome e", "nome e", "falando e", "e o", "e a",
        ),
        key=lambda phrase: -len(phrase),
    )
)
START_ONLY_CUES = frozenset({"e o", "e a"})

# Phrases after which a visitor names the resident, longest first.
RESIDENT_CUES = tuple(
    sorted(
        (
            "para o", "para a", "para", "pra o", "pra a", "pra", "pro", "falar com o", "falar com a", "falar com",
            "ver o", "ver a", "visitar o", "visitar a", "visitar", "procurando o", "procurando a", "procurando",
            "procuro o", "procuro a", "chamar o", "chamar a", "casa do", "casa da", "casa de", "encomenda do",
            "encomenda da", "encomenda de", "entrega do", "entrega da", "entrega de", "pacote do", "pacote da",
            "pedido do", "pedido da", "pedido de", "amigo do", "amigo da", "amiga do", "amiga da", "mae do", "mae da",
            "pai do", "pai da", "filho do", "filho da", "filha do", "filha da", "irmao do", "irmao da", "irma do",
            "irma da", "primo do", "primo da", "prima do", "prima da", "tio do", "tia do", "tia da", "tio da",
            "namorado da", "namorada do", "colega do", "colega da", "buscar o", "buscar a", "encontrar o",
            "encontrar a", "com o", "com a", "da dona", "do seu", "dona", "seu", "senhor", "senhora",
            "doutor", "doutora", "morador", "moradora", "em nome de", "em nome do", "em nome da", "destinatario",
            "destinataria", "e pro", "e pra", "ligar para", "ligar pra", "avisar o", "avisar a",
        ),
        key=lambda phrase: -len(phrase),
    )
)

APARTMENT_CUES = frozenset(
    {"apartamento", "apto", "ap", "apt", "apart", "unidade", "numero", "num", "no", "do", "ao", "pro", "casa",
     "sala", "n", "para", "pra", "ape"}
)
# Company names that contain people's names or nicknames, folded and split.
BRANDS = tuple(
    tuple(brand.split())
    for brand in ("ze delivery", "magazine luiza", "mercado livre", "uber eats", "casas bahia", "drogaria sao paulo")
)
NOT_APARTMENT_CUES = frozenset(
    {"pedido", "codigo", "nota", "telefone", "celular", "placa", "cpf", "rg", "senha", "protocolo", "rastreio"}
)
BLOCK_CUES = frozenset({"bloco", "torre", "bl", "predio", "edificio", "ed"})
COUNT_NOUNS = frozenset(
    {"minuto", "minutos", "hora", "horas", "reais", "real", "anos", "ano", "pacotes", "caixas", "volumes", "itens",
     "pizzas", "vezes", "dias", "pessoas", "segundos", "quilos", "litros", "andar", "andares"}
)
SPELLED_LETTERS = {
    "a": "A", "be": "B", "b": "B", "ce": "C", "se": "C", "c": "C", "de": "D", "d": "D", "e": "E", "efe": "F",
    "f": "F", "ge": "G", "g": "G", "aga": "H", "h": "H", "i": "I", "jota": "J", "j": "J", "ka": "K", "ca": "K",
    "k": "K", "ele": "L", "l": "L", "eme": "M", "m": "M", "ene": "N", "n": "N", "o": "O", "pe": "P", "p": "P",
}

_KEYWORD_WORDS = frozenset(word for phrase, _, _ in INTENT_PHRASES for word in phrase.split() if len(word) >= 3)

# Words that are never (part of) a person's name in these conversations.
NOT_NAMES = (
    frozenset(
        {
            "o", "a", "os", "as", "um", "uma", "de", "da", "do", "das", "dos", "e", "eu", "voce", "ele", "ela",
            "aqui", "ai", "la", "sou", "estou", "to", "ta", "tou", "esta", "vim", "vou", "venho", "veio", "quero",
            "vem", "vai", "foi", "fui", "vir", "indo",
            "queria", "gostaria", "preciso", "pra", "para", "pro", "com", "no", "na", "nos", "nas", "em", "que",
            "quem", "qual", "meu", "minha", "nome", "chamo", "boa", "bom", "tarde", "dia", "noite", "oi", "ola",
            "tudo", "bem", "obrigado", "obrigada", "por", "favor", "sim", "nao", "isso", "entao", "ne", "tipo",
            "moco", "moca", "senhor", "senhora", "dona", "seu", "apartamento", "apto", "ap", "bloco", "torre",
            "casa", "numero", "unidade", "morador", "moradora", "mora", "falar", "ver", "visitar", "deixar",
            "entregar", "buscar", "trazer", "fazer", "chegou", "chegando", "aguardando", "esperando", "me", "te",
            "se", "lhe", "ja", "so", "agora", "hoje", "rapidinho", "certo", "ok", "beleza", "alo", "ei", "pode",
            "poderia", "licenca", "desculpa", "desculpe", "sei", "lembro", "mas", "ou", "tambem", "mesmo", "mesma",
            "ah", "eh", "hum", "hm", "uh", "aham", "uhum", "opa", "salve", "fala", "tem", "ter", "tenho",
            "trouxe", "trago", "vindo", "chamar", "ligar", "avisar", "procurando", "procuro", "encontrar", "novo",
            "nova", "empresa", "firma", "loja", "aquele", "aquela", "esse", "essa", "este", "isto",
            "ninguem", "alguem", "gente", "pessoal", "cara", "mano", "brother", "senhorita", "vizinho",
            "vizinha", "portao", "entrada", "favorzinho", "exato", "correto", "errado", "claro", "perfeito",
            "qualquer", "tanto", "faz", "ambos", "primeira", "primeiro", "segunda", "segundo", "ultima", "ultimo",
            "como", "hein", "repete", "entendi", "sabe", "acho", "pois", "olha", "escuta", "estamos", "somos",
            "vamos", "viemos", "chegamos", "trabalho", "sobrenome", "certinho", "negativo", "positivo", "valeu",
            "dizer", "disse", "falei", "falou", "liga", "chama", "avisa", "diga", "ate", "mais", "muito",
            "familia", "doutor", "doutora", "sr", "sra", "dr", "dra", "encomenda", "ape",
            "hmm", "humm", "hummm", "ahn", "eita", "nossa", "uai", "tchau", "cheguei", "aguarda",
            "espera", "momento", "minuto", "mim", "comigo", "dela", "dele", "deles", "delas", "nosso",
            "portaria", "administracao", "condominio", "predio", "yes", "okay", "pronto",
            # jobs and roles people introduce themselves with
            "motorista", "uber", "taxi", "taxista", "carteiro", "corretor", "corretora", "medico", "medica",
            "fisioterapeuta", "veterinario", "advogado", "advogada", "estagiario", "estagiaria", "funcionaria",
            "representante", "vendedor", "vendedora", "promotor", "promotora", "pesquisador", "pesquisadora",
            "vigia", "agente", "fiscal", "leiturista", "responsavel",
            # verbs that follow a name ("a Fernanda pediu")
            "pediu", "pediram", "mandou", "comprou", "encomendou", "chamou", "avisou", "ligou", "autorizou",
            "liberou", "conhece", "morava", "trabalha", "marcou", "combinou", "deixou", "esqueceu",
            "precisa", "quer", "tava", "estava",
        }
    )
    | NUMBER_WORDS
    | _KEYWORD_WORDS
    | frozenset(word for phrase in HUMAN_PHRASES for word in phrase.split())
)
