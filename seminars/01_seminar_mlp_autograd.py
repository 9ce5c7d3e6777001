# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Семинар 1. MLP на PyTorch и автоматическое дифференцирование
#
# **Темы курса:** введение в глубинное обучение, обучение нейросетей, алгоритм обратного
# распространения ошибки.
#
# Семинар построен по принципу **«снаружи внутрь»**:
#
# 1. сначала учимся **пользоваться** инструментом: тензоры PyTorch, многослойный перцептрон,
#    функция потерь, обучение;
# 2. потом разбираемся, **как он устроен** внутри: прямой и обратный проход, цепное правило,
#    матричное дифференцирование, свой маленький autograd;
# 3. наконец, **практикуемся**: блиц-вопросы и упражнения для самостоятельной работы.
#
# Ноутбук выполняется сверху вниз в свежем ядре на обычном ноутбуке (CPU) за пару минут;
# все числа, которые он печатает, измеряются при этом запуске.
#
# ## План
#
# **Часть I. PyTorch MLP**
# 1. Знакомство с PyTorch: аналогия с NumPy, операции с тензорами, broadcasting
# 2. Данные: `make_moons`
# 3. Модель MLP
# 4. Функция потерь: SVM max-margin loss с L2-регуляризацией
# 5. Обучение: SGD своими руками
# 6. Роль нелинейностей: ReLU, Sigmoid, Identity
# 7. Сравнение с SVM: линейное, полиномиальное и RBF-ядро
# 8. Батчинг и эффективность
# 9. Резюме части I
#
# **Часть II. Autograd и backpropagation**
# 1. Мотивация: зачем нужно автоматическое дифференцирование
# 2. Forward и backward pass
# 3. Chain rule
# 4. Матричное дифференцирование
# 5. Примеры в PyTorch: как сложение и умножение направляют градиенты
# 6. Собственный autograd: класс `Value`
#
# **Практика:** блиц-вопросы и упражнения.

# %% [markdown]
# ## Подготовка
#
# Импортируем библиотеки, фиксируем генераторы случайных чисел и печатаем версии: если у вас
# что-то считается иначе, первым делом сравните версии.
#
# PyTorch просим считать в **один поток** (`torch.set_num_threads(1)`): наши тензоры маленькие,
# и на них потоки не ускоряют, а на загруженной машине мешают друг другу.

# %%
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import sklearn
import torch
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.svm import SVC, LinearSVC
from torch import nn
from tqdm import tqdm

SEED = 0
torch.manual_seed(SEED)
rng = np.random.default_rng(SEED)
# Тензоры в семинаре маленькие: на них многопоточность не ускоряет, а на занятой машине
# заметно тормозит и делает замеры времени шумными. Поэтому считаем в один поток.
torch.set_num_threads(1)

print(f"Python       {platform.python_version()}")
print(f"PyTorch      {torch.__version__}")
print(f"NumPy        {np.__version__}")
print(f"Matplotlib   {matplotlib.__version__}")
print(f"scikit-learn {sklearn.__version__}")
print(f"Потоков CPU у PyTorch: {torch.get_num_threads()}, GPU доступен: {torch.cuda.is_available()}")

# %% [markdown]
# # Часть I. PyTorch MLP

# %% [markdown]
# ## 1. Знакомство с PyTorch
#
# PyTorch — библиотека для вычислений с **тензорами** (tensor): многомерными массивами, очень
# похожими на массивы NumPy (`np.ndarray`). Ради двух отличий PyTorch и нужен:
#
# * тензор умеет запоминать, как он был получен, и вычислять производные — это
#   **автоматическое дифференцирование** (automatic differentiation, autograd), ему посвящена
#   часть II;
# * тензор может жить на видеокарте (GPU), где те же операции над большими тензорами
#   выполняются во много раз быстрее.
#
# Во всём остальном PyTorch старается повторять NumPy: если вы знаете NumPy, вы уже почти знаете
# тензоры. Проверим это по пунктам.

# %% [markdown]
# ### 1.1. Создание тензоров: аналогия с NumPy
#
# Почти у каждой функции NumPy есть тёзка в PyTorch. Создадим одно и то же двумя способами и
# сравним форму (shape) и тип элементов (dtype).

# %%
creation_pairs = {
    "из списка": (np.array([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 4]])),
    "zeros(2, 3)": (np.zeros((2, 3)), torch.zeros(2, 3)),
    "ones(2, 3)": (np.ones((2, 3)), torch.ones(2, 3)),
    "arange(0, 10, 3)": (np.arange(0, 10, 3), torch.arange(0, 10, 3)),
    "linspace(0, 1, 5)": (np.linspace(0, 1, 5), torch.linspace(0, 1, 5)),
    "eye(3)": (np.eye(3), torch.eye(3)),
}
print(f"{'':18} {'NumPy shape':12} {'dtype':8} | {'PyTorch shape':14} dtype")
for what, (array, tensor) in creation_pairs.items():
    same_values = np.allclose(array, tensor.numpy())
    print(f"{what:18} {array.shape!s:12} {array.dtype!s:8} | {tuple(tensor.shape)!s:14} {tensor.dtype}"
          f"   значения совпадают: {same_values}")

# %% [markdown]
# ### 1.2. Тип элементов (dtype) и его значения по умолчанию
#
# **Вопрос.** Посмотрите на таблицу выше: чем отличаются dtype вещественных массивов в NumPy и в
# PyTorch? А что получится, если сделать тензор из массива NumPy или сложить целый тензор с
# вещественным?

# %%
print("torch.get_default_dtype()        ->", torch.get_default_dtype())
print("np.array([1.0, 2.0]).dtype       ->", np.array([1.0, 2.0]).dtype)
print("torch.tensor([1.0, 2.0]).dtype   ->", torch.tensor([1.0, 2.0]).dtype)
print("torch.tensor([1, 2]).dtype       ->", torch.tensor([1, 2]).dtype)
print("torch.from_numpy(float64).dtype  ->", torch.from_numpy(np.array([1.0, 2.0])).dtype)
print("(int64 + float32).dtype          ->", (torch.tensor([1, 2]) + torch.tensor([0.5, 0.5])).dtype)
print("NumPy: (int64 + float32).dtype   ->", (np.array([1, 2]) + np.array([0.5, 0.5], dtype=np.float32)).dtype)

# %% [markdown]
# Вещественные числа в NumPy по умолчанию `float64`, в PyTorch — `float32`: нейросетям хватает
# одинарной точности, она занимает вдвое меньше памяти и обычно считается быстрее. Но
# `torch.from_numpy` **сохраняет** dtype массива, и тензор из NumPy оказывается `float64`.
# При смешивании целого и вещественного тензоров результат вещественный, причём PyTorch берёт
# вещественный тип операнда (`int64 + float32 -> float32`), а NumPy повышает до `float64`.
#
# **Вопрос.** Веса слоя `nn.Linear` имеют тип `float32`. Что будет, если подать в слой тензор,
# полученный из массива NumPy «как есть»?

# %%
demo_layer = nn.Linear(2, 1)
try:
    demo_layer(torch.from_numpy(np.ones((1, 2))))
except RuntimeError as error:
    print("RuntimeError:", error)
print("А так работает:", demo_layer(torch.from_numpy(np.ones((1, 2))).float()).shape)

# %% [markdown]
# Поэтому данные из NumPy мы будем явно переводить в `float32`.
#
# ### 1.3. Форма: `shape`, `reshape`, `view`
#
# `reshape` работает как в NumPy; `-1` означает «посчитай этот размер сам». У PyTorch есть ещё
# `view`.

# %%
numbers = torch.arange(12)
print("shape:", tuple(numbers.shape), "| size() == shape:", numbers.size() == numbers.shape)
print("reshape(3, 4):", tuple(numbers.reshape(3, 4).shape), "| view(2, -1):", tuple(numbers.view(2, -1).shape))
print("ndim:", numbers.view(3, 4).ndim, "| numel (число элементов):", numbers.numel())


# %% [markdown]
# **Вопрос.** `view` и `reshape` — это одно и то же? Что произойдёт с исходным тензором, если
# изменить элемент его `view`? И получится ли сделать `view` транспонированной матрицы?


# %%
def same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Проверяет, что два тензора используют один и тот же буфер памяти (storage)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


matrix = torch.arange(6).view(2, 3)
matrix_view = matrix.view(3, 2)
matrix_view[0, 0] = 100
print("matrix после изменения matrix_view[0, 0]:\n", matrix)
print("view делит память с исходным тензором:", same_memory(matrix, matrix_view))
print("matrix.is_contiguous():", matrix.is_contiguous(), "| matrix.T.is_contiguous():", matrix.T.is_contiguous())
try:
    matrix.T.view(6)
except RuntimeError as error:
    print("RuntimeError:", str(error).splitlines()[0][:100], "...")
flat = matrix.T.reshape(6)
print("matrix.T.reshape(6):", flat.tolist(), "| это копия:", not same_memory(matrix, flat))

# %% [markdown]
# `view` никогда не копирует данные: он лишь по-другому «читает» тот же буфер памяти, поэтому
# новая форма должна быть совместима с тем, как элементы уже лежат в памяти (шаги, strides).
# Проще всего это, когда тензор непрерывный (contiguous): элементы лежат подряд построчно.
# Транспонирование меняет только порядок чтения (шаги), тензор перестаёт быть непрерывным, и
# `view(6)` на нём падает. `reshape` сделает `view`, когда это
# возможно, а иначе — копию.
#
# ### 1.4. Индексация
#
# Индексация такая же, как в NumPy: числа, срезы, булевы маски, списки индексов.

# %%
grid = torch.arange(12).view(3, 4)
grid_np = grid.numpy()
print(grid)
print("grid[1]            ->", grid[1].tolist())
print("grid[:, 2]         ->", grid[:, 2].tolist())
print("grid[-1, 1:3]      ->", grid[-1, 1:3].tolist())
print("grid[grid % 2 == 0] ->", grid[grid % 2 == 0].tolist())
print("grid[[0, 2]]       ->", grid[[0, 2]].tolist())
same_as_numpy = (
    np.array_equal(grid[:, 2].numpy(), grid_np[:, 2])
    and np.array_equal(grid[grid % 2 == 0].numpy(), grid_np[grid_np % 2 == 0])
    and np.array_equal(grid[[0, 2]].numpy(), grid_np[[0, 2]])
)
print("Совпадает с NumPy:", same_as_numpy)

# %% [markdown]
# ### 1.5. Редукции: `dim` вместо `axis`
#
# Суммы, средние, максимумы по оси в PyTorch принимают аргумент `dim` (а `keepdim` вместо
# `keepdims`). Для совместимости понимается и `axis`.
#
# **Вопрос.** Что вернёт `grid.max(dim=1)`? А `grid.mean()` для целочисленного `grid`?

# %%
print("NumPy   grid_np.sum(axis=0)        ->", grid_np.sum(axis=0).tolist())
print("PyTorch grid.sum(dim=0)            ->", grid.sum(dim=0).tolist())
print("PyTorch grid.sum(axis=0)           ->", grid.sum(axis=0).tolist())
print("keepdim=True: shape", tuple(grid.sum(dim=1, keepdim=True).shape),
      "| NumPy keepdims=True: shape", grid_np.sum(axis=1, keepdims=True).shape)
row_max = grid.max(dim=1)
print("grid.max(dim=1) ->", row_max)
print("в NumPy это две функции:", grid_np.max(axis=1).tolist(), grid_np.argmax(axis=1).tolist())
try:
    grid.mean()
except RuntimeError as error:
    print("RuntimeError:", str(error).splitlines()[0])
print("grid.float().mean() ->", grid.float().mean().item(), "| NumPy:", grid_np.mean())

# %% [markdown]
# ### 1.6. Операции «на месте» (in-place): суффикс `_`
#
# У многих методов есть версия с подчёркиванием на конце: `add_`, `mul_`, `zero_`… Она меняет сам
# тензор, а не создаёт новый. Оператор `+=` тоже работает на месте.
#
# **Вопрос.** Что напечатается в последней строке: изменится ли `alias`?

# %%
base = torch.zeros(3)
alias = base.view(3)  # тот же буфер памяти, что у base
shifted = base.add(1)  # новый тензор, base не меняется
print("после base.add(1):  base =", base.tolist(), "| shifted =", shifted.tolist())
base.add_(1)  # на месте
base += 1  # тоже на месте
print("после add_ и +=:    base =", base.tolist(), "| alias =", alias.tolist())

# %% [markdown]
# ### 1.7. `from_numpy` и `.numpy()`: общая память
#
# **Вопрос.** `torch.from_numpy(a)` и `torch.tensor(a)` оба делают тензор из массива. Есть ли
# между ними разница?

# %%
array = np.zeros(3, dtype=np.float32)
shared = torch.from_numpy(array)  # общая память с array
copied = torch.tensor(array)  # копия
array[0] = 7.0
print("array[0] = 7 ->  shared =", shared.tolist(), "| copied =", copied.tolist())
back = shared.numpy()  # снова общая память
shared[1] = -1.0
print("shared[1] = -1 -> array =", array.tolist(), "| back =", back.tolist())

# %% [markdown]
# `torch.from_numpy` и `.numpy()` не копируют данные (это быстро, но изменения видны с обеих
# сторон); `torch.tensor(...)` всегда копирует. `.numpy()` работает только для тензоров на CPU
# и без графа вычислений: иначе нужно `t.detach().cpu().numpy()`.
#
# ### 1.8. Основные операции с тензорами
#
# Арифметика поэлементная, `@` — матричное умножение, как в NumPy.

# %%
mat = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
vec = torch.tensor([10.0, 20.0])
print("mat * mat (поэлементно):", (mat * mat).tolist())
print("mat @ mat (матрично):   ", (mat @ mat).tolist())
print("mat @ vec:              ", (mat @ vec).tolist())
print("mat.T:                  ", mat.T.tolist())
print("exp, sqrt:              ", mat.exp().double().round(decimals=2).tolist(), mat.sqrt().double().round(decimals=3).tolist())
print("torch.where(mat > 2, mat, 0):", torch.where(mat > 2, mat, 0.0).tolist())
print("cat по dim=0:", tuple(torch.cat([mat, mat], dim=0).shape), "| stack:", tuple(torch.stack([mat, mat]).shape))
mat_np = mat.numpy()
print("Совпадает с NumPy:", np.allclose((mat @ mat).numpy(), mat_np @ mat_np)
      and np.allclose((mat @ vec).numpy(), mat_np @ vec.numpy()))

# %% [markdown]
# ### 1.9. Broadcasting
#
# **Вопрос.** Какой формы будет результат сложения тензоров форм `(3, 1)` и `(1, 4)`? А `(2, 3)` и
# `(3,)`? А `(2, 3)` и `(2,)`?
#
# Правила **broadcasting** (как в NumPy, см. [PyTorch Broadcasting
# semantics](https://pytorch.org/docs/stable/notes/broadcasting.html)):
#
# 1. формы выравниваются **по правому краю**; недостающие слева измерения считаются равными 1;
# 2. в каждой позиции размеры должны быть **равны**, или один из них должен быть **равен 1**;
#    иначе — ошибка;
# 3. размер результата в каждой позиции — тот из двух, что **не равен 1** (если оба равны 1,
#    то 1): измерение размера 1 «растягивается» (повторяется) без копирования данных.
#
# Запишем правила кодом и сверим с самим PyTorch (`torch.broadcast_shapes`).


# %%
def broadcast_shape(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> tuple[int, ...]:
    """Форма результата операции над тензорами форм shape_a и shape_b по правилам broadcasting.

    Бросает ValueError, если формы несовместимы.
    """
    ndim = max(len(shape_a), len(shape_b))
    padded_a = (1,) * (ndim - len(shape_a)) + tuple(shape_a)  # правило 1
    padded_b = (1,) * (ndim - len(shape_b)) + tuple(shape_b)
    result = []
    for size_a, size_b in zip(padded_a, padded_b, strict=True):
        if size_a != size_b and 1 not in (size_a, size_b):  # правило 2
            raise ValueError(f"формы {shape_a} и {shape_b} несовместимы")
        result.append(size_a if size_b == 1 else size_b)  # правило 3 (верно и для размера 0)
    return tuple(result)


shape_pairs = [((3, 1), (1, 4)), ((2, 3), (3,)), ((5, 1, 4), (3, 1)), ((4,), ()), ((2, 3), (2,))]
for shape_a, shape_b in shape_pairs:
    try:
        ours = broadcast_shape(shape_a, shape_b)
    except ValueError:
        ours = "ошибка"
    try:
        theirs = tuple(torch.broadcast_shapes(shape_a, shape_b))
    except RuntimeError:
        theirs = "ошибка"
    print(f"{shape_a!s:10} и {shape_b!s:7} -> наш ответ: {ours!s:10} PyTorch: {theirs!s:10} совпадает: {ours == theirs}")

# %% [markdown]
# Те же примеры на настоящих тензорах. Последний пример падает; чтобы он заработал, нужно явно
# добавить измерение: `unsqueeze(1)` превращает форму `(2,)` в `(2, 1)`.

# %%
column = torch.tensor([[0.0], [10.0], [20.0]])  # (3, 1)
row = torch.tensor([[1.0, 2.0, 3.0, 4.0]])  # (1, 4)
print("(3, 1) + (1, 4) ->", tuple((column + row).shape))
print(column + row)
ones23 = torch.ones(2, 3)
print("(2, 3) + (3,)   ->", tuple((ones23 + torch.tensor([1.0, 2.0, 3.0])).shape))
try:
    ones23 + torch.tensor([1.0, 2.0])
except RuntimeError as error:
    print("(2, 3) + (2,)   -> RuntimeError:", error)
print("(2, 3) + (2, 1) ->", tuple((ones23 + torch.tensor([1.0, 2.0]).unsqueeze(1)).shape))

# %% [markdown]
# Broadcasting удобен: например, центрирование признаков `X - X.mean(dim=0)` — это
# `(n, d) - (d,)`. Но он же и опасен.
#
# **Вопрос.** У модели выход формы `(n, 1)`, метки — формы `(n,)`. Какой формы будет
# `scores - labels`?

# %%
scores_column = torch.zeros(4, 1)  # (n, 1): так выглядит выход nn.Linear(..., 1)
labels = torch.ones(4)  # (n,)
print("(4, 1) - (4,) ->", tuple((scores_column - labels).shape), "— молча получилась матрица n x n!")
print("(4,)   - (4,) ->", tuple((scores_column.squeeze(-1) - labels).shape))

# %% [markdown]
# Ошибки не будет, но функция потерь посчитает среднее по $n^2$ парам вместо $n$ объектов. Поэтому
# наша модель будет возвращать оценки формы `(n,)`, а функция потерь — проверять, что формы
# совпадают.
#
# ### 1.10. PyTorch и NumPy: сравнение
#
# | | NumPy | PyTorch |
# |---|---|---|
# | Основной объект | `np.ndarray` | `torch.Tensor` |
# | Автоматическое дифференцирование | нет | есть: `requires_grad=True`, `.backward()`, `.grad` |
# | Устройства | только CPU | CPU, GPU (`.to("cuda")`), Apple `mps`; `.device` |
# | Вещественный тип по умолчанию | `float64` | `float32` (`torch.get_default_dtype()`) |
# | Целый тип по умолчанию | `int64` (в NumPy 1.x под Windows — `int32`) | `int64` |
# | Ось редукции | `axis=`, `keepdims=` | `dim=`, `keepdim=` (`axis=` тоже понимается) |
# | `max`/`min` по оси | только значения; индексы — `argmax` | пара `(values, indices)` |
# | Среднее целых | работает | ошибка: нужен вещественный тип |
# | Размер | `a.shape` | `t.shape` или `t.size()`; `t.numel()` |
# | Копия | `a.copy()` | `t.clone()` |
# | Смена формы | `reshape` | `reshape`, `view` (без копии) |
# | Изменение на месте | `out=`, `+=` | методы с `_`: `add_`, `zero_`; `+=` |
# | Склейка | `np.concatenate` | `torch.cat` |
# | Обмен данными | — | `torch.from_numpy(a)`, `t.numpy()`: общая память |
# | Broadcasting | есть | есть, правила те же |

# %% [markdown]
# ## 2. Данные: make_moons
#
# Учебная задача бинарной классификации: две «луны» на плоскости, которые нельзя разделить прямой.
# Данные генерирует `sklearn.datasets.make_moons` с фиксированным `random_state`, так что у всех
# получается одна и та же выборка; `noise` — стандартное отклонение гауссова шума.
#
# Часть объектов откладываем в **отложенную выборку** (held-out, test): на ней проверяем, как
# модель работает на данных, которых не видела при обучении.

# %%
N_SAMPLES = 500
NOISE = 0.15
TEST_SIZE = 0.3

X_np, y_np = make_moons(n_samples=N_SAMPLES, noise=NOISE, random_state=SEED)
X_train_np, X_test_np, y_train_np, y_test_np = train_test_split(
    X_np, y_np, test_size=TEST_SIZE, random_state=SEED, stratify=y_np
)
print("make_moons:", X_np.shape, X_np.dtype, "| метки:", np.unique(y_np).tolist())

# %% [markdown]
# **Вопрос.** `make_moons` выдаёт метки 0 и 1. Зачем нам переделывать их в $-1$ и $+1$? (Ответ —
# в разделе 4, где появится функция потерь.)
#
# Переводим данные в тензоры `float32` (тип весов наших слоёв) и метки — в $\{-1, +1\}$.

# %%
X_train = torch.tensor(X_train_np, dtype=torch.float32)  # (n_train, 2)
X_test = torch.tensor(X_test_np, dtype=torch.float32)  # (n_test, 2)
y_train = torch.tensor(2 * y_train_np - 1, dtype=torch.float32)  # (n_train,), значения -1 и +1
y_test = torch.tensor(2 * y_test_np - 1, dtype=torch.float32)  # (n_test,)

print(f"X_train {tuple(X_train.shape)} {X_train.dtype} | y_train {tuple(y_train.shape)} {y_train.dtype}")
print(f"X_test  {tuple(X_test.shape)} {X_test.dtype} | y_test  {tuple(y_test.shape)} {y_test.dtype}")
for part, labels_part in (("train", y_train), ("test", y_test)):
    values, counts = labels_part.unique(return_counts=True)
    print(f"{part}: " + ", ".join(f"класс {v:+.0f}: {c} объектов" for v, c in zip(values.tolist(), counts.tolist(), strict=True)))

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for label, color in ((-1, "tab:blue"), (1, "tab:red")):
    train_mask, test_mask = y_train == label, y_test == label
    ax.scatter(X_train[train_mask, 0], X_train[train_mask, 1], s=12, c=color, label=f"train, класс {label:+d}")
    ax.scatter(X_test[test_mask, 0], X_test[test_mask, 1], s=24, c=color, marker="x", label=f"test, класс {label:+d}")
ax.set_title(f"make_moons: {len(X_train)} train + {len(X_test)} test, noise = {NOISE}")
ax.set_xlabel("$x_1$")
ax.set_ylabel("$x_2$")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 3. Модель MLP
#
# **Многослойный перцептрон** (multilayer perceptron, MLP) — чередование линейных слоёв
# $h \mapsto W h + b$ и поэлементных нелинейных **функций активации** (activation function).
# Наша сеть: $2 \to 100 \to 100 \to 1$,
#
# $$s(x) = W_3\,\sigma\big(W_2\,\sigma(W_1 x + b_1) + b_2\big) + b_3,$$
#
# где $\sigma$ — активация (по умолчанию ReLU: $\max(0, z)$). На выходе одно число — **оценка**
# (score) $s(x)$: её знак и есть предсказанный класс.
#
# В PyTorch модель — это наследник `nn.Module`: слои создаются в `__init__`, а вычисление
# описывается в `forward`. Формы записаны справа от каждого слоя ($n$ — число объектов).


# %%
class MLP(nn.Module):
    """Многослойный перцептрон 2 -> hidden -> hidden -> 1 для бинарной классификации.

    Возвращает оценки (scores) формы (n,); знак оценки — предсказанный класс (-1 или +1).
    """

    def __init__(self, activation: type[nn.Module] = nn.ReLU, hidden: int = 100) -> None:
        """Создаёт слои; activation — класс активации (nn.ReLU, nn.Sigmoid, nn.Identity)."""
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(2, hidden),  # (n, 2)      -> (n, hidden)
            activation(),  # (n, hidden) -> (n, hidden)
            nn.Linear(hidden, hidden),  # (n, hidden) -> (n, hidden)
            activation(),  # (n, hidden) -> (n, hidden)
            nn.Linear(hidden, 1),  # (n, hidden) -> (n, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Прямой проход: признаки x формы (n, 2) -> оценки формы (n,)."""
        return self.layers(x).squeeze(-1)  # (n, 1) -> (n,)


torch.manual_seed(SEED)
model = MLP()
print(model)

# %% [markdown]
# **Вопрос.** Сколько обучаемых параметров у этой сети? Посчитайте в уме.
#
# У слоя `nn.Linear(in, out)` матрица весов $W$ размера $\text{out} \times \text{in}$ и вектор
# сдвигов $b$ длины $\text{out}$, то есть $\text{in} \cdot \text{out} + \text{out}$ параметров. У активаций параметров нет. Итого:
#
# $$(2 \cdot 100 + 100) + (100 \cdot 100 + 100) + (100 \cdot 1 + 1) = 300 + 10\,100 + 101 = 10\,501.$$

# %%
n_params_by_hand = (2 * 100 + 100) + (100 * 100 + 100) + (100 * 1 + 1)
n_params = sum(p.numel() for p in model.parameters())
for name, param in model.named_parameters():
    print(f"{name:16} {tuple(param.shape)!s:12} {param.numel():6d}")
print(f"Всего параметров: {n_params} (по формуле: {n_params_by_hand})")
assert n_params == n_params_by_hand

# %% [markdown]
# Пропустим через сеть 5 объектов и посмотрим, как меняется форма после каждого слоя.

# %%
hidden_state = X_train[:5]
print(f"{'вход':52} {tuple(hidden_state.shape)}")
for layer in model.layers:
    hidden_state = layer(hidden_state)
    print(f"{layer!s:52} {tuple(hidden_state.shape)}")
print(f"{'model(x): после squeeze(-1)':52} {tuple(model(X_train[:5]).shape)}")

# %% [markdown]
# **Вопрос.** Совпадает ли это с формулой $s(x) = W_3\,\sigma(W_2\,\sigma(W_1 x + b_1) + b_2) + b_3$?
# Соберём её вручную из весов слоёв. Векторы-объекты у нас — строки матрицы `x` формы `(n, 2)`,
# поэтому $W x + b$ в коде записывается как `x @ W.T + b`.
#
# Сравнивать числа будем по **относительной ошибке** $\lVert a - b \rVert / (\lVert a \rVert + \lVert b \rVert)$:
# она не зависит от масштаба; для `float32` «совпадает» означает примерно $10^{-7}$–$10^{-6}$.


# %%
def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Относительная ошибка ||a - b|| / max(||a|| + ||b||, 1e-12) для сравнения результатов."""
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).norm() / (a.norm() + b.norm()).clamp_min(1e-12)).item()


first, second, third = model.layers[0], model.layers[2], model.layers[4]
with torch.no_grad():
    x_probe = X_train[:5]  # (5, 2)
    hidden_1 = torch.relu(x_probe @ first.weight.T + first.bias)  # (5, 100)
    hidden_2 = torch.relu(hidden_1 @ second.weight.T + second.bias)  # (5, 100)
    by_formula = (hidden_2 @ third.weight.T + third.bias).squeeze(-1)  # (5,)
    mlp_formula_rel_error = relative_error(by_formula, model(x_probe))
print(f"формула vs model(x): относительная ошибка {mlp_formula_rel_error:.2e}")

# %% [markdown]
# Модель вызывают как функцию: `model(x)`, а не `model.forward(x)`.
#
# **Вопрос.** Результат одинаковый — так в чём разница?
#
# `model(x)` — это `nn.Module.__call__`: он вызывает `forward` и, кроме того, **хуки** (hooks) —
# функции, которые PyTorch и библиотеки вешают на модули (профилирование, отладка, некоторые
# виды регуляризации). Прямой вызов `forward` их пропускает. Проверим на своём хуке.


# %%
hook_calls: list[str] = []


def remember_call(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
    """Forward-хук: запоминает имя класса модуля, который был вызван."""
    hook_calls.append(type(module).__name__)


hook_handle = model.register_forward_hook(remember_call)
out_call = model(X_train[:5])
calls_after_call = len(hook_calls)
out_forward = model.forward(X_train[:5])
calls_after_forward = len(hook_calls) - calls_after_call
hook_handle.remove()
print(f"model(x):         хук вызван {calls_after_call} раз(а)")
print(f"model.forward(x): хук вызван {calls_after_forward} раз(а)")
print("Выходы совпадают:", torch.equal(out_call, out_forward))

# %% [markdown]
# ## 4. Функция потерь: SVM max-margin loss + L2
#
# Метки $y_i \in \{-1, +1\}$, оценка модели $s_i = s(x_i)$. Величина $y_i s_i$ — **отступ**
# (margin): он положителен, когда знак оценки верный, и тем больше, чем увереннее модель права.
# Это и есть ответ на вопрос из раздела 2: с метками $\pm 1$ одно произведение $y_i s_i$
# описывает оба класса.
#
# Функция потерь SVM (hinge loss, max-margin loss) штрафует объекты с отступом меньше 1:
#
# $$\ell(s_i, y_i) = \max(0,\ 1 - y_i s_i).$$
#
# Полная функция потерь — средний hinge loss плюс **L2-регуляризация** (штраф за большие веса)
# с коэффициентом $\alpha = 10^{-4}$ по **всем** параметрам $\theta$ сети:
#
# $$L(\theta) = \frac{1}{n} \sum_{i=1}^{n} \max(0,\ 1 - y_i s_i) \;+\; \alpha \sum_{j} \theta_j^2.$$
#
# | формула | код |
# |---|---|
# | $\max(0,\ 1 - y_i s_i)$ | `torch.relu(1 - y * scores)` |
# | $\frac{1}{n}\sum_i$ | `.mean()` |
# | $\alpha \sum_j \theta_j^2$ | `alpha * sum((p ** 2).sum() for p in model.parameters())` |

# %%
ALPHA = 1e-4


def hinge_loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Средний hinge loss: mean(max(0, 1 - y * s)); scores и y формы (n,), y из {-1, +1}."""
    if scores.shape != y.shape:
        raise ValueError(f"формы scores {tuple(scores.shape)} и y {tuple(y.shape)} должны совпадать")
    return torch.relu(1 - y * scores).mean()


def l2_penalty(model: nn.Module, alpha: float = ALPHA) -> torch.Tensor:
    """L2-регуляризация: alpha * (сумма квадратов всех параметров модели)."""
    return alpha * torch.stack([(p**2).sum() for p in model.parameters()]).sum()


# %% [markdown]
# **Вопрос.** Оценки $s = (2,\ 0.5,\ -1,\ -3)$, метки $y = (+1,\ +1,\ +1,\ -1)$. Чему равен средний
# hinge loss? Какие объекты дают вклад?

# %%
example_scores = torch.tensor([2.0, 0.5, -1.0, -3.0])
example_y = torch.tensor([1.0, 1.0, 1.0, -1.0])
by_hand = np.mean([max(0.0, 1.0 - y_i * s_i) for s_i, y_i in zip(example_scores.tolist(), example_y.tolist(), strict=True)])
print("отступы y*s:         ", (example_y * example_scores).tolist())
print("потери по объектам:  ", torch.relu(1 - example_y * example_scores).tolist())
print(f"hinge_loss: {hinge_loss(example_scores, example_y).item():.4f} | вручную: {by_hand:.4f}")
try:
    hinge_loss(example_scores.unsqueeze(1), example_y)
except ValueError as error:
    print("Защита от broadcasting (n, 1) vs (n,):", error)

# %% [markdown]
# Hinge loss — выпуклая верхняя оценка «ошибки 0–1» $[\,y s \le 0\,]$: он равен нулю, только
# когда объект классифицирован верно **с запасом** (отступ $\ge 1$).

# %%
margin_grid = torch.linspace(-2, 3, 501)
fig, ax = plt.subplots(figsize=(5, 4))
ax.plot(margin_grid, torch.relu(1 - margin_grid), label=r"hinge: $\max(0, 1 - ys)$")
ax.plot(margin_grid, (margin_grid <= 0).float(), label=r"ошибка 0–1: $[ys \leq 0]$")
ax.set_title("Hinge loss как функция отступа")
ax.set_xlabel("отступ $y s$")
ax.set_ylabel("потеря")
ax.legend()
plt.show()

# %% [markdown]
# ### 4.1. Градиент hinge loss по оценкам
#
# **Вопрос.** Чему равна производная $L_{\text{hinge}} = \frac{1}{n}\sum_i \max(0, 1 - y_i s_i)$
# по оценке $s_i$?
#
# Каждое слагаемое зависит только от своего $s_i$; там, где $1 - y_i s_i > 0$, производная
# $\max(0, 1 - y_i s_i)$ равна $-y_i$, а где отступ больше 1 — нулю:
#
# $$\frac{\partial L_{\text{hinge}}}{\partial s_i} = -\frac{y_i}{n}\,[\,y_i s_i < 1\,].$$
#
# (В точке излома $y_i s_i = 1$ производной нет; PyTorch, как и мы, берёт там 0.) Проверим
# формулу автоматическим дифференцированием и конечными разностями на случайных оценках.


# %%
def hinge_loss_grad(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Аналитический градиент среднего hinge loss по оценкам: -y_i / n * [y_i s_i < 1]."""
    return -y * (y * scores < 1).to(scores.dtype) / len(y)


def finite_difference_grad(
    func: Callable[[torch.Tensor], torch.Tensor], point: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """Градиент скалярной функции func в точке point центральными разностями (в float64)."""
    point = point.detach().double()
    grad = torch.empty_like(point)
    for i in range(point.numel()):
        step = torch.zeros_like(point)
        step.view(-1)[i] = eps
        grad.view(-1)[i] = (func(point + step) - func(point - step)) / (2 * eps)
    return grad


probe_scores = 2 * torch.randn(len(y_train), generator=torch.Generator().manual_seed(SEED))
scores_leaf = probe_scores.clone().requires_grad_()
hinge_loss(scores_leaf, y_train).backward()
grad_autograd = scores_leaf.grad
grad_formula = hinge_loss_grad(probe_scores, y_train)
grad_numeric = finite_difference_grad(lambda s: hinge_loss(s, y_train.double()), probe_scores)
hinge_grad_rel_error = relative_error(grad_formula, grad_autograd)
hinge_grad_fd_rel_error = relative_error(grad_formula, grad_numeric)
print(f"объектов с ненулевым градиентом: {int((grad_formula != 0).sum())} из {len(y_train)}")
print(f"формула vs autograd:           относительная ошибка {hinge_grad_rel_error:.2e}")
print(f"формула vs конечные разности:  относительная ошибка {hinge_grad_fd_rel_error:.2e}")

# %% [markdown]
# ### 4.2. Градиент L2-регуляризации
#
# $\dfrac{\partial}{\partial \theta_j}\, \alpha \sum_k \theta_k^2 = 2 \alpha \theta_j$: регуляризация
# тянет каждый вес к нулю пропорционально его величине. На шаге градиентного спуска с шагом $\eta$
# она умножает каждый вес на $(1 - 2\eta\alpha)$, поэтому её называют ещё **затуханием весов**
# (weight decay).
# Проверим на параметрах нашей сети.

# %%
model.zero_grad()
l2_penalty(model).backward()
l2_grad_rel_error = max(relative_error(p.grad, 2 * ALPHA * p.detach()) for p in model.parameters())
model.zero_grad()
print(f"L2-штраф при инициализации: {l2_penalty(model).item():.5f}")
print(f"2 * alpha * theta vs autograd: максимальная относительная ошибка {l2_grad_rel_error:.2e}")

# %% [markdown]
# ## 5. Обучение: SGD своими руками
#
# **Стохастический градиентный спуск** (stochastic gradient descent, SGD): на каждом шаге берём
# случайный **мини-батч** (mini-batch) объектов $B$, считаем на нём функцию потерь и сдвигаем
# параметры против градиента с **шагом обучения** (learning rate) $\eta$:
#
# $$\theta \leftarrow \theta - \eta\, \nabla_\theta \Big(\frac{1}{|B|}\sum_{i \in B} \max(0,\ 1 - y_i s_i) + \alpha \sum_j \theta_j^2\Big).$$
#
# Один проход по всей обучающей выборке называется **эпохой** (epoch). Оптимизаторы из
# `torch.optim` делают ровно это (и больше), но здесь мы пишем шаг сами.
#
# **Вопрос.** Зачем в цикле вызывать `model.zero_grad()` перед `loss.backward()`? Что будет, если
# забыть? (Подсказка: `backward` **прибавляет** градиент к `.grad`; мы воспользуемся этим в
# разделе 8.)

# %%
N_EPOCHS = 60
LEARNING_RATE = 0.5
BATCH_SIZE = 32


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Доля объектов, у которых знак оценки модели совпадает с меткой из {-1, +1}."""
    with torch.no_grad():
        return (torch.sign(model(X)) == y).float().mean().item()


def sgd_step(model: nn.Module, lr: float) -> None:
    """Один шаг SGD на месте: theta <- theta - lr * grad (вне графа вычислений)."""
    with torch.no_grad():
        for param in model.parameters():
            param -= lr * param.grad


# %%
def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    n_epochs: int = N_EPOCHS,
    lr: float = LEARNING_RATE,
    batch_size: int = BATCH_SIZE,
    alpha: float = ALPHA,
    seed: int = SEED,
    X_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    desc: str = "обучение",
) -> dict[str, list[float]]:
    """Обучает модель мини-батчевым SGD на hinge loss + L2-регуляризации.

    Возвращает историю по эпохам: "loss" (средняя потеря на батчах эпохи), "train_acc" и, если
    передана отложенная выборка (X_val, y_val), "val_acc".
    """
    generator = torch.Generator().manual_seed(seed)  # свой генератор: порядок батчей воспроизводим
    history: dict[str, list[float]] = {"loss": [], "train_acc": [], "val_acc": []}
    n = len(X)
    progress = tqdm(range(n_epochs), desc=desc, mininterval=0.5)
    for _ in progress:
        order = torch.randperm(n, generator=generator)
        loss_sum = 0.0
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            loss = hinge_loss(model(X[batch]), y[batch]) + l2_penalty(model, alpha)
            model.zero_grad()  # обнуляем (точнее, удаляем) градиенты прошлого шага
            loss.backward()  # заполняем param.grad
            sgd_step(model, lr)
            loss_sum += loss.item() * len(batch)
        history["loss"].append(loss_sum / n)
        history["train_acc"].append(accuracy(model, X, y))
        if X_val is not None and y_val is not None:
            history["val_acc"].append(accuracy(model, X_val, y_val))
        progress.set_postfix(loss=f"{history['loss'][-1]:.3f}", refresh=False)
    return history


# %%
torch.manual_seed(SEED)
model = MLP(nn.ReLU)
history = train(model, X_train, y_train, X_val=X_test, y_val=y_test, desc="MLP ReLU")
train_acc = accuracy(model, X_train, y_train)
test_acc = accuracy(model, X_test, y_test)
print(f"Точность (accuracy): train {train_acc:.3f}, test {test_acc:.3f}")

# %%
epochs = np.arange(1, N_EPOCHS + 1)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4))
ax_loss.plot(epochs, history["loss"])
ax_loss.set_title("Функция потерь (hinge + L2) по эпохам")
ax_loss.set_xlabel("эпоха")
ax_loss.set_ylabel("средняя потеря на батчах")
ax_loss.set_yscale("log")
ax_acc.plot(epochs, history["train_acc"], label="train")
ax_acc.plot(epochs, history["val_acc"], label="test")
ax_acc.set_title("Точность по эпохам")
ax_acc.set_xlabel("эпоха")
ax_acc.set_ylabel("accuracy")
ax_acc.legend()
plt.show()

# %% [markdown]
# Кривые «шумят»: каждый шаг сделан по случайному батчу из 32 объектов, и его градиент — лишь
# оценка градиента по всей выборке. Отсюда и название: *стохастический* градиентный спуск.

# %% [markdown]
# **Вопрос.** Как, по-вашему, выглядит граница, которую провела сеть? Нарисуем знак оценки
# $s(x)$ на сетке точек плоскости: граница классов — линия уровня $s(x) = 0$.


# %%
def torch_score_fn(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Оборачивает модель PyTorch в функцию numpy (m, 2) -> numpy (m,) для рисования."""

    def scores(points: np.ndarray) -> np.ndarray:
        """Оценки модели для массива точек points формы (m, 2)."""
        with torch.no_grad():
            return model(torch.from_numpy(points.astype(np.float32))).numpy()

    return scores


def plot_decision_boundary(
    ax: plt.Axes, score_fn: Callable[[np.ndarray], np.ndarray], X: torch.Tensor, y: torch.Tensor, title: str
) -> None:
    """Рисует на ax области классов (знак score_fn), границу score = 0 и точки (X, y)."""
    x_min, y_min = X.min(dim=0).values.tolist()
    x_max, y_max = X.max(dim=0).values.tolist()
    grid_x, grid_y = np.meshgrid(np.linspace(x_min - 0.5, x_max + 0.5, 150), np.linspace(y_min - 0.5, y_max + 0.5, 150))
    grid_scores = score_fn(np.c_[grid_x.ravel(), grid_y.ravel()]).reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, grid_scores, levels=[-np.inf, 0, np.inf], colors=["tab:blue", "tab:red"], alpha=0.2)
    ax.contour(grid_x, grid_y, grid_scores, levels=[0], colors="black", linewidths=1)
    for label, color in ((-1, "tab:blue"), (1, "tab:red")):
        mask = y == label
        ax.scatter(X[mask, 0], X[mask, 1], s=10, c=color, label=f"класс {label:+d}")
    ax.plot([], [], color="black", linewidth=1, label="граница $s(x) = 0$")
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(fontsize=8, loc="lower left")


# %%
fig, ax = plt.subplots(figsize=(5, 4))
plot_decision_boundary(ax, torch_score_fn(model), X_test, y_test, f"MLP ReLU на test: accuracy {test_acc:.3f}")
plt.show()

# %% [markdown]
# ## 6. Роль нелинейностей: ReLU, Sigmoid, Identity
#
# Обучим ту же сеть с тремя активациями, ничего больше не меняя (те же инициализация, порядок
# батчей, шаг и число эпох):
#
# * ReLU: $\max(0, z)$;
# * Sigmoid: $\sigma(z) = 1 / (1 + e^{-z})$;
# * Identity: $z$, то есть нелинейности нет вовсе.
#
# **Вопрос.** Как, по-вашему, будут выглядеть три разделяющие границы?

# %%
mlps = {"ReLU": model}  # сеть с ReLU уже обучена в разделе 5 ровно так же
mlp_histories = {"ReLU": history}
for activation in (nn.Sigmoid, nn.Identity):
    torch.manual_seed(SEED)
    net = MLP(activation)
    mlp_histories[activation.__name__] = train(
        net, X_train, y_train, X_val=X_test, y_val=y_test, desc=f"MLP {activation.__name__}"
    )
    mlps[activation.__name__] = net


def print_results(results: dict[str, dict[str, float]]) -> None:
    """Печатает таблицу: модель, accuracy на train и на test."""
    print(f"{'модель':24} {'train':>6} {'test':>6}")
    for name, accs in results.items():
        print(f"{name:24} {accs['train']:6.3f} {accs['test']:6.3f}")


results = {
    f"MLP {name}": {"train": accuracy(net, X_train, y_train), "test": accuracy(net, X_test, y_test)}
    for name, net in mlps.items()
}
print_results(results)

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, net) in zip(axes, mlps.items(), strict=True):
    plot_decision_boundary(ax, torch_score_fn(net), X_test, y_test, f"MLP {name}: test {results[f'MLP {name}']['test']:.3f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### 6.1. Почему Identity — это линейная модель
#
# **Вопрос.** В сети с Identity три слоя и 10 501 параметр. Почему её граница — прямая?
#
# Без нелинейности слои просто перемножаются:
#
# $$s(x) = W_3\big(W_2(W_1 x + b_1) + b_2\big) + b_3 = \underbrace{W_3 W_2 W_1}_{W:\ 1 \times 2}\, x
# + \underbrace{W_3 W_2 b_1 + W_3 b_2 + b_3}_{b}.$$
#
# Свернём слои в одну матрицу $W$ и сдвиг $b$ и сравним $W x + b$ с выходом сети.


# %%
def compose_linear(model: MLP) -> tuple[torch.Tensor, torch.Tensor]:
    """Перемножает линейные слои MLP, пропуская активации: возвращает W (1, 2) и b (1,).

    Результат W x + b совпадает с сетью, только если активации — nn.Identity.
    """
    weight = torch.eye(2)  # (2, 2): пока что тождественное отображение
    bias = torch.zeros(2)  # (2,)
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            weight = layer.weight @ weight  # (out, in) @ (in, 2) -> (out, 2)
            bias = layer.weight @ bias + layer.bias  # (out,)
    return weight.detach(), bias.detach()


collapse_max_diff = {}
for name in ("Identity", "ReLU"):
    weight, bias = compose_linear(mlps[name])
    with torch.no_grad():
        as_linear = X_test @ weight.T + bias  # (n, 2) @ (2, 1) + (1,) -> (n, 1)
        collapse_max_diff[name] = (as_linear.squeeze(-1) - mlps[name](X_test)).abs().max().item()
    weight_text = ", ".join(f"{w:+.3f}" for w in weight.squeeze(0).tolist())
    print(f"{name:8}: W = [{weight_text}], b = {bias.item():+.4f}; "
          f"max |W x + b - s(x)| = {collapse_max_diff[name]:.2e}")
identity_collapse_max_diff = collapse_max_diff["Identity"]

# %% [markdown]
# Для Identity расхождение — на уровне ошибок округления `float32`: сеть **в точности** линейная
# модель $Wx + b$, и лишние слои ничего не добавляют. Для ReLU такая свёртка не работает: именно
# нелинейность позволяет сети гнуть границу.
#
# ### 6.2. Почему Sigmoid отстаёт
#
# Sigmoid — нелинейная функция, но за тот же бюджет сеть с ней почти не ушла от линейной модели.
# Посмотрим на кривые обучения.

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for name, hist in mlp_histories.items():
    ax.plot(epochs, hist["loss"], label=name)
ax.set_title("Потери при одинаковом обучении")
ax.set_xlabel("эпоха")
ax.set_ylabel("средняя потеря на батчах")
ax.set_yscale("log")
ax.legend()
plt.show()

# %% [markdown]
# **Вопрос.** Почему сигмоида учится медленнее?
#
# Её производная $\sigma'(z) = \sigma(z)\,(1 - \sigma(z)) \le \tfrac14$ (максимум в нуле), а при
# обратном проходе градиент умножается на $\sigma'$ на каждом слое: сигнал затухает. У ReLU
# производная равна 1 везде, где $z > 0$. Проверим формулу и оценку $\tfrac14$, а затем сравним
# нормы градиента по весам первого слоя у свежих (необученных) сетей.

# %%
z_grid = torch.linspace(-6, 6, 1201, requires_grad=True)
torch.sigmoid(z_grid).sum().backward()
sigmoid_formula = torch.sigmoid(z_grid.detach()) * (1 - torch.sigmoid(z_grid.detach()))
print(f"sigma'(z): формула vs autograd, относительная ошибка {relative_error(sigmoid_formula, z_grid.grad):.2e}")
print(f"max sigma'(z) на сетке: {z_grid.grad.max().item():.4f} (при z = {z_grid[z_grid.grad.argmax()].item():.2f})")

first_layer_grad_norm = {}
for activation in (nn.ReLU, nn.Sigmoid):
    torch.manual_seed(SEED)
    fresh = MLP(activation)
    hinge_loss(fresh(X_train), y_train).backward()
    first_layer_grad_norm[activation.__name__] = fresh.layers[0].weight.grad.norm().item()
    print(f"{activation.__name__:8}: ||dL/dW1|| при инициализации = {first_layer_grad_norm[activation.__name__]:.2e}")
print(f"ReLU / Sigmoid: в {first_layer_grad_norm['ReLU'] / first_layer_grad_norm['Sigmoid']:.0f} раз")

# %% [markdown]
# Градиент по первому слою у сигмоидной сети в разы меньше, поэтому с тем же шагом она и движется
# в разы медленнее.
#
# **Вопрос.** Значит ли это, что сеть с сигмоидой не способна провести изогнутую границу? Дадим ей
# больше эпох, не меняя ни шаг, ни размер батча.

# %%
SIGMOID_LONG_EPOCHS = 400
torch.manual_seed(SEED)
sigmoid_long = MLP(nn.Sigmoid)
sigmoid_long_history = train(
    sigmoid_long, X_train, y_train, n_epochs=SIGMOID_LONG_EPOCHS, X_val=X_test, y_val=y_test, desc="MLP Sigmoid, долго"
)
sigmoid_escape_epoch = next(
    (epoch for epoch, acc in enumerate(sigmoid_long_history["train_acc"], start=1) if acc >= 0.95), None
)
relu_escape_epoch = next(
    (epoch for epoch, acc in enumerate(mlp_histories["ReLU"]["train_acc"], start=1) if acc >= 0.95), None
)
sigmoid_long_acc = {"train": accuracy(sigmoid_long, X_train, y_train), "test": accuracy(sigmoid_long, X_test, y_test)}
print(f"Точность на train впервые >= 0.95: Sigmoid — на эпохе {sigmoid_escape_epoch}, ReLU — на эпохе {relu_escape_epoch}")
print(f"После {SIGMOID_LONG_EPOCHS} эпох: train {sigmoid_long_acc['train']:.3f}, test {sigmoid_long_acc['test']:.3f}")

# %%
fig, (ax_loss, ax_boundary) = plt.subplots(1, 2, figsize=(12, 4))
ax_loss.plot(np.arange(1, SIGMOID_LONG_EPOCHS + 1), sigmoid_long_history["loss"], label="Sigmoid")
ax_loss.plot(epochs, mlp_histories["ReLU"]["loss"], label="ReLU")
ax_loss.axvline(N_EPOCHS, color="gray", linestyle="--", label=f"{N_EPOCHS} эпох (общий бюджет)")
ax_loss.set_title("Сигмоида: долгое плато, потом спуск")
ax_loss.set_xlabel("эпоха")
ax_loss.set_ylabel("средняя потеря на батчах")
ax_loss.set_yscale("log")
ax_loss.legend()
plot_decision_boundary(
    ax_boundary, torch_score_fn(sigmoid_long), X_test, y_test,
    f"MLP Sigmoid, {SIGMOID_LONG_EPOCHS} эпох: test {sigmoid_long_acc['test']:.3f}",
)
fig.tight_layout()
plt.show()

# %% [markdown]
# Сигмоида нелинейна и тоже изгибает границу, но ей нужно во много раз больше эпох (сравните
# номера эпох выше): долгое плато — типичный симптом затухающих градиентов. Это одна из причин, по которым в скрытых слоях
# современных сетей используют ReLU и её родственников, а сигмоиду оставляют для выходов,
# которые должны быть вероятностями.

# %% [markdown]
# ## 7. Сравнение с SVM
#
# Наша функция потерь — та же, что у **метода опорных векторов** (support vector machine, SVM):
# hinge loss плюс L2-штраф. Классический SVM — линейная модель $w^\top x + b$; нелинейную границу
# он получает через **ядро** (kernel) $k(x, z)$ — скалярное произведение в неявном пространстве
# признаков. Решение имеет вид
#
# $$s(x) = \sum_{i \in SV} \beta_i\, k(x_i, x) + b,$$
#
# где сумма идёт по опорным векторам (support vectors), $\beta_i = \lambda_i y_i$, а $\lambda_i > 0$ —
# двойственные переменные (множители Лагранжа) задачи SVM. Сравним:
#
# * `LinearSVC` — линейный SVM (по умолчанию он минимизирует **квадрат** hinge loss,
#   `loss="squared_hinge"`, и штрафует ещё и сдвиг $b$, но граница всё равно прямая);
# * `SVC(kernel="poly")` — полиномиальное ядро $k(x, z) = (\gamma\, x^\top z + c_0)^d$;
# * `SVC(kernel="rbf")` — гауссово (RBF) ядро $k(x, z) = \exp(-\gamma \lVert x - z \rVert^2)$.
#
# **Вопрос.** Какой из них, по-вашему, окажется похож на MLP с Identity, а какой — на MLP с ReLU?

# %%
svms = {
    "LinearSVC": LinearSVC(C=1.0, random_state=SEED),
    "SVC poly (d=3)": SVC(kernel="poly", degree=3, coef0=1.0, C=1.0),
    "SVC rbf": SVC(kernel="rbf", C=1.0),
}
for name, classifier in svms.items():
    classifier.fit(X_train.numpy(), y_train.numpy())
    results[name] = {
        "train": float(classifier.score(X_train.numpy(), y_train.numpy())),
        "test": float(classifier.score(X_test.numpy(), y_test.numpy())),
    }
print_results(results)

# %% [markdown]
# Проверим формулу решения для обоих ядер: соберём $s(x)$ сами из опорных векторов (`support_vectors_`),
# коэффициентов $\beta_i$ (`dual_coef_`) и сдвига (`intercept_`). По умолчанию `gamma="scale"`,
# то есть $\gamma = 1 / (d \cdot \operatorname{Var}(X))$, где $d$ — число признаков.

# %%
gamma = 1.0 / (X_train.shape[1] * X_train.numpy().var())
points = X_test.numpy()  # (n_test, 2)
kernel_by_hand = {
    "SVC poly (d=3)": lambda sv: (gamma * points @ sv.T + 1.0) ** 3,  # (n_test, n_sv)
    "SVC rbf": lambda sv: np.exp(-gamma * ((points[:, None, :] - sv[None, :, :]) ** 2).sum(axis=-1)),
}
svm_kernel_rel_error = {}
for name, kernel in kernel_by_hand.items():
    svm = svms[name]
    by_hand = kernel(svm.support_vectors_) @ svm.dual_coef_[0] + svm.intercept_[0]  # (n_test,)
    svm_kernel_rel_error[name] = relative_error(torch.from_numpy(by_hand), torch.from_numpy(svm.decision_function(points)))
    print(f"{name:15}: опорных векторов {len(svm.support_vectors_):3d} из {len(X_train)}; "
          f"s(x) вручную vs decision_function: относительная ошибка {svm_kernel_rel_error[name]:.2e}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, classifier) in zip(axes, svms.items(), strict=True):
    plot_decision_boundary(ax, classifier.decision_function, X_test, y_test, f"{name}: test {results[name]['test']:.3f}")
fig.tight_layout()
plt.show()

# %% [markdown]
# MLP с Identity и `LinearSVC` — обе линейные модели, и точность у них почти одинаковая; MLP с ReLU
# и SVM с RBF- и полиномиальным ядром проводят похожие изогнутые границы. Разница в том, **как** получается
# нелинейность: SVM задаёт признаки заранее через ядро (и хранит опорные векторы), а MLP
# **выучивает** признаки в скрытых слоях.

# %%
identity_vs_linear_svc = results["MLP Identity"]["test"] - results["LinearSVC"]["test"]
print(f"MLP Identity - LinearSVC (test): {identity_vs_linear_svc:+.3f}")
print(f"MLP ReLU     - SVC rbf   (test): {results['MLP ReLU']['test'] - results['SVC rbf']['test']:+.3f}")

# %% [markdown]
# ## 8. Батчинг и эффективность
#
# Градиент средней функции потерь по батчу равен среднему градиентов по объектам. Значит, его
# можно посчитать двумя способами:
#
# 1. **циклом**: для каждого объекта отдельно прямой и обратный проход; `backward` каждый раз
#    прибавляет вклад объекта к `.grad`;
# 2. **батчем**: один прямой и один обратный проход сразу для всех объектов.
#
# Сначала убедимся, что результат одинаковый (с точностью до округления `float32`).


# %%
def loss_and_grads_loop(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    """Hinge loss и его градиенты по параметрам: по одному объекту в цикле Python."""
    model.zero_grad()
    total = 0.0
    for i in range(len(X)):
        loss_i = hinge_loss(model(X[i : i + 1]), y[i : i + 1]) / len(X)  # (1, 2) -> (1,) -> скаляр
        loss_i.backward()  # градиент объекта i прибавляется к param.grad
        total += loss_i.item()
    return total, [param.grad.clone() for param in model.parameters()]


def loss_and_grads_batch(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
    """Hinge loss и его градиенты по параметрам: один проход по всему батчу."""
    model.zero_grad()
    loss = hinge_loss(model(X), y)  # (n, 2) -> (n,) -> скаляр
    loss.backward()
    return loss.item(), [param.grad.clone() for param in model.parameters()]


torch.manual_seed(SEED)
bench_model = MLP()  # необученная сеть: у неё ненулевой вклад дают почти все объекты
loop_loss, loop_grads = loss_and_grads_loop(bench_model, X_train, y_train)
batch_loss, batch_grads = loss_and_grads_batch(bench_model, X_train, y_train)
batch_loss_abs_diff = abs(loop_loss - batch_loss)
batch_max_abs_diff = max((a - b).abs().max().item() for a, b in zip(loop_grads, batch_grads, strict=True))
batch_grad_rel_error = relative_error(  # по всем параметрам сразу, как по одному вектору
    torch.cat([g.flatten() for g in loop_grads]), torch.cat([g.flatten() for g in batch_grads])
)
assert batch_loss_abs_diff < 1e-5 and batch_grad_rel_error < 1e-5
assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-7) for a, b in zip(loop_grads, batch_grads, strict=True))
print(f"loss: цикл {loop_loss:.6f}, батч {batch_loss:.6f}")
print(f"градиенты: max |цикл - батч| = {batch_max_abs_diff:.1e}, относительная ошибка {batch_grad_rel_error:.1e}")

# %% [markdown]
# **Вопрос.** Во сколько раз, по-вашему, батч из всех объектов обучающей выборки быстрее цикла?
#
# Замеряем аккуратно: сначала «прогрев» (первый вызов медленнее: выделение памяти, ленивая
# инициализация), потом несколько повторов и **медиана** (она устойчива к случайным задержкам из-за
# других процессов). Быстрый батч ещё и повторяем несколько раз внутри одного замера, чтобы время
# было много больше разрешения таймера. Для серьёзных замеров в PyTorch есть
# `torch.utils.benchmark`, а здесь хватит `time.perf_counter`.


# %%
def median_seconds(func: Callable[[], object], repeats: int = 5, number: int = 1, warmup: int = 1) -> float:
    """Медианное время одного вызова func: warmup вызовов без замера, затем repeats замеров по number вызовов."""
    for _ in range(warmup):
        func()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            func()
        timings.append((time.perf_counter() - start) / number)
    return statistics.median(timings)


def cpu_name() -> str:
    """Название процессора: из /proc/cpuinfo в Linux, иначе то, что знает модуль platform."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


print(f"Процессор: {cpu_name()}; логических ядер: {os.cpu_count()}; потоков PyTorch: {torch.get_num_threads()}")

# %%
bench_sizes = [1, 10, 30, 100, len(X_train)]
loop_seconds, batch_seconds = [], []
for size in tqdm(bench_sizes, desc="замеры"):
    X_part, y_part = X_train[:size], y_train[:size]
    loop_seconds.append(median_seconds(partial(loss_and_grads_loop, bench_model, X_part, y_part), repeats=5))
    batch_seconds.append(median_seconds(partial(loss_and_grads_batch, bench_model, X_part, y_part), repeats=7, number=10))
speedups = [loop / batch for loop, batch in zip(loop_seconds, batch_seconds, strict=True)]
speedup = speedups[-1]
for size, loop, batch, ratio in zip(bench_sizes, loop_seconds, batch_seconds, speedups, strict=True):
    print(f"n = {size:4d}: цикл {loop * 1e3:8.2f} мс, батч {batch * 1e3:6.3f} мс, ускорение {ratio:6.1f}x")
print(f"\nБатч из {bench_sizes[-1]} объектов против цикла: ускорение {speedup:.0f}x")

# %%
fig, (ax_time, ax_speedup) = plt.subplots(1, 2, figsize=(12, 4))
ax_time.loglog(bench_sizes, np.array(loop_seconds) * 1e3, "o-", label="цикл по объектам")
ax_time.loglog(bench_sizes, np.array(batch_seconds) * 1e3, "o-", label="один батч")
ax_time.set_title("Время прямого и обратного прохода")
ax_time.set_xlabel("число объектов n")
ax_time.set_ylabel("время, мс")
ax_time.legend()
ax_speedup.semilogx(bench_sizes, speedups, "o-", color="tab:green")
ax_speedup.set_title("Ускорение батча относительно цикла")
ax_speedup.set_xlabel("число объектов n")
ax_speedup.set_ylabel("время цикла / время батча")
plt.show()

# %% [markdown]
# **Почему батч выигрывает.** Время цикла растёт линейно с $n$: на каждый объект приходятся
# десятки вызовов Python, создание маленьких тензоров и узлов графа autograd, запуск
# отдельных операций — всё это **накладные расходы** (overhead), которые на крошечных тензорах
# `(1, 100)` намного дороже самой арифметики. Батч платит эти расходы **один раз**, а саму
# арифметику делает одним матричным умножением `(n, 100) @ (100, 100)`, которое библиотека
# линейной алгебры выполняет векторными инструкциями процессора, эффективно используя кэш.
# Поэтому время батча почти не растёт, пока $n$ невелико, и ускорение растёт вместе с $n$. На GPU
# разрыв ещё больше: запуск каждой операции там дороже, а параллельных вычислителей — тысячи.
#
# Отсюда правило: **не пишите циклов по объектам** — формулируйте вычисления над целым батчем.

# %% [markdown]
# ## 9. Резюме части I
#
# * Тензоры PyTorch устроены как массивы NumPy, но по умолчанию `float32`, умеют считать
#   градиенты и жить на GPU; broadcasting работает по тем же правилам — и так же легко
#   незаметно превращает `(n, 1)` и `(n,)` в `(n, n)`.
# * Модель — наследник `nn.Module`; вызываем её как `model(x)`; параметры считаются по формуле
#   $\text{in} \cdot \text{out} + \text{out}$ на каждый линейный слой.
# * Hinge loss с метками $\pm 1$ и L2-регуляризацией — та же функция потерь, что у SVM; её
#   градиент по оценкам $-\frac{y_i}{n}[y_i s_i < 1]$ совпал с autograd.
# * SGD — это несколько строк: `zero_grad`, `backward`, `param -= lr * param.grad` под `no_grad`.
# * Без нелинейности многослойная сеть — линейная модель; Sigmoid нелинейна, но из-за малой
#   производной ($\sigma' \le \frac14$) учится в разы медленнее ReLU.
# * Ядровые SVM тоже строят нелинейные границы, но признаки у них заданы ядром, а MLP их выучивает.
# * Вычисления надо делать батчами: цикл по объектам в Python во много раз медленнее.
#
# Итоговые числа этого запуска:

# %%
print_results(results)
print(f"\nПараметров в MLP: {n_params}")
print(f"Градиент hinge loss: относительная ошибка {hinge_grad_rel_error:.1e} (autograd)")
print(f"Ускорение батча на {bench_sizes[-1]} объектах: {speedup:.0f}x")

# %% [markdown]
# # Часть II. Autograd и backpropagation

# %% [markdown]
# ## 1. Мотивация: зачем нужно автоматическое дифференцирование

# %% [markdown]
# ## 2. Forward и backward pass

# %% [markdown]
# ## 3. Chain rule

# %% [markdown]
# ## 4. Матричное дифференцирование

# %% [markdown]
# ## 5. Примеры в PyTorch: сложение и умножение

# %% [markdown]
# ## 6. Собственный autograd: класс Value

# %% [markdown]
# # Блиц-вопросы

# %% [markdown]
# # Упражнения для самостоятельной работы
